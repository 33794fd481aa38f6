package membership

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// queryTimeoutMult scales the default query timeout: GossipInterval *
// queryTimeoutMult * ceil(log10(N+1)), the time gossip needs to reach N
// members with room for the answers to come back.
const queryTimeoutMult = 16

// maxHandlers bounds the query handlers running at once on one node; a
// query beyond it is answered with an error.
const maxHandlers = 64

// QueryParams selects the members a query goes to and how long it waits.
// The zero value asks every alive member and waits the default timeout.
type QueryParams struct {
	// FilterNodes, when not empty, limits the query to the members named.
	FilterNodes []string
	// FilterTags, when not empty, limits the query to the members whose tag
	// of each key exists and matches the regular expression (RE2 syntax,
	// anchored at both ends).
	FilterTags map[string]string
	// RelayFactor is how many other members each responder also sends its
	// ack and response through, against lost packets: 0 to 5.
	RelayFactor int
	// Timeout bounds the wait for responses and the handlers' time. Zero
	// means GossipInterval * 16 * ceil(log10(N+1)) for N alive members. The
	// context passed to Query may end it sooner.
	Timeout time.Duration
}

// QueryHandler answers a query: ctx ends at the query's timeout or when the
// node closes. An error is sent back as the response's error.
type QueryHandler func(ctx context.Context, payload []byte) ([]byte, error)

// QueryResponse is one member's answer to a query.
type QueryResponse struct {
	// From is the responding member.
	From string
	// Payload is what its handler returned.
	Payload []byte
	// Err is non-nil when its handler failed (a *RemoteError) or when it
	// has no handler for the name (matches ErrNoHandler).
	Err error
}

// RemoteError is the error a member's query handler returned, as text.
type RemoteError struct {
	// From is the member whose handler failed.
	From string
	// Message is the handler's error text.
	Message   string
	noHandler bool
}

func (e *RemoteError) Error() string {
	return "membership: query handler on " + e.From + ": " + e.Message
}

// Is reports whether target is ErrNoHandler and the member had no handler.
func (e *RemoteError) Is(target error) bool { return e.noHandler && target == ErrNoHandler }

// HandleQuery registers h to answer the queries named name on this node,
// replacing any previous handler; a nil h removes it. A member that
// receives a query it has no handler for answers with an error matching
// ErrNoHandler. It may be called before Start. Names starting with
// "_conclave/" are Conclave's own: registering one has no effect.
func (m *Membership) HandleQuery(name string, h QueryHandler) {
	q := &m.msgs.queries
	q.mu.Lock()
	defer q.mu.Unlock()
	if isInternalQuery(name) {
		return
	}
	if h == nil {
		delete(q.handlers, name)
		return
	}
	q.handlers[name] = h
}

// QueryResult streams the answers to one query. Acks arrive when a member
// received the query, responses when its handler answered; both channels
// are closed when every member expected has acked and answered, at the
// timeout, when the context of Query ends, or at Close.
type QueryResult struct {
	name     string
	ltime    uint64
	id       uint64
	expected []string // sorted
	deadline time.Time
	raw      []byte // the encoded query, resent to members that do not ack

	acks  chan string
	resps chan QueryResponse
	done  chan struct{}
	stop  chan struct{}

	mu        sync.Mutex // guards closed, acked, responded; orders sends with close
	closed    bool
	acked     map[string]bool
	responded map[string]bool
	stopOnce  sync.Once
}

// Acks returns the channel of the names of members that received the query.
func (r *QueryResult) Acks() <-chan string { return r.acks }

// Responses returns the channel of responses, one per member.
func (r *QueryResult) Responses() <-chan QueryResponse { return r.resps }

// Done is closed when the query is finished and both channels are closed.
func (r *QueryResult) Done() <-chan struct{} { return r.done }

// Deadline returns when the query stops waiting.
func (r *QueryResult) Deadline() time.Time { return r.deadline }

// Expected returns the members the query was expected to reach: those
// alive and matching the filters when it was sent, sorted.
func (r *QueryResult) Expected() []string { return slices.Clone(r.expected) }

// Missing returns the expected members that have not responded (so far, or
// at all once Done is closed), sorted.
func (r *QueryResult) Missing() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.expected {
		if !r.responded[n] {
			out = append(out, n)
		}
	}
	return out
}

// Close stops waiting for answers and closes the channels. It is safe to
// call more than once.
func (r *QueryResult) Close() { r.stopOnce.Do(func() { close(r.stop) }) }

// queries is the query state of a node.
type queries struct {
	mu       sync.Mutex // guards pending, handlers, running, answered
	pending  map[uint64]*QueryResult
	handlers map[string]QueryHandler
	internal map[string]QueryHandler // Conclave's own; never changed after New
	running  int
	answered answers
}

func (q *queries) init() {
	q.pending = map[uint64]*QueryResult{}
	q.handlers = map[string]QueryHandler{}
}

// Query sends a query to every alive member matching params, the local node
// included, and returns at once with a result that streams the acks and
// responses. name is non-empty UTF-8 of at most 128 bytes; name, payload
// and filters must encode to at most MaxMessageSize bytes, or the error
// matches ErrTooLarge.
func (m *Membership) Query(ctx context.Context, name string, payload []byte, params QueryParams) (*QueryResult, error) {
	if err := checkMsgName("query", name); err != nil {
		return nil, err
	}
	if isInternalQuery(name) {
		return nil, fmt.Errorf("%w: query names starting with %q are reserved", ErrInvalidArgument, internalQueryPrefix)
	}
	return m.query(ctx, name, payload, params)
}

func (m *Membership) query(ctx context.Context, name string, payload []byte, params QueryParams) (*QueryResult, error) {
	filters, err := checkQueryParams(params)
	if err != nil {
		return nil, err
	}
	if _, err := m.running(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	msg := queryMsg{
		LTime: m.msgs.queryClock.tick(), ID: rand.Uint64(), Origin: m.cfg.Name,
		Timeout: params.Timeout, RelayFactor: uint8(params.RelayFactor),
		FilterNodes: slices.Clone(params.FilterNodes), FilterTags: filters,
		Name: name, Payload: slices.Clone(payload),
	}
	var alive []Member
	m.hub.read(func(t *table) { alive = t.withStatus(StatusAlive) })
	alive = append(alive, m.Local())
	if msg.Timeout == 0 {
		msg.Timeout = m.defaultQueryTimeout(len(alive))
	}
	raw := msg.encode()
	if len(raw) > MaxMessageSize {
		return nil, fmt.Errorf("%w: query %q of %d bytes, at most %d", ErrTooLarge, name, len(raw), MaxMessageSize)
	}
	r := m.newQueryResult(msg, alive)
	r.raw = raw
	if d, ok := ctx.Deadline(); ok && d.Before(r.deadline) {
		r.deadline = d
	}
	m.msgs.queries.mu.Lock()
	m.msgs.queries.pending[r.id] = r
	m.msgs.queries.mu.Unlock()
	if !m.spawn(func() { m.awaitQuery(ctx, r) }) {
		m.finishQuery(r)
		return nil, ErrClosed
	}
	m.handleQuery(msg, raw, false)
	return r, nil
}

func (m *Membership) newQueryResult(msg queryMsg, alive []Member) *QueryResult {
	compiled := compileFilters(msg.FilterTags)
	var expected []string
	for _, mem := range alive {
		if matchesQuery(mem.Name, mem.Tags, msg.FilterNodes, compiled) {
			expected = append(expected, mem.Name)
		}
	}
	sort.Strings(expected)
	size := len(expected) + 16
	return &QueryResult{
		name: msg.Name, ltime: msg.LTime, id: msg.ID, expected: expected,
		deadline: time.Now().Add(msg.Timeout),
		acks:     make(chan string, size), resps: make(chan QueryResponse, size),
		done: make(chan struct{}), stop: make(chan struct{}),
		acked: map[string]bool{}, responded: map[string]bool{},
	}
}

func (m *Membership) defaultQueryTimeout(alive int) time.Duration {
	scale := math.Ceil(math.Log10(float64(alive) + 1))
	return m.timing.GossipInterval * queryTimeoutMult * time.Duration(max(scale, 1))
}

func checkQueryParams(p QueryParams) ([]tagFilter, error) {
	var problems []error
	if p.RelayFactor < 0 || p.RelayFactor > maxRelayFactor {
		problems = append(problems, fmt.Errorf("%w: RelayFactor %d, allowed 0 to %d", ErrInvalidArgument, p.RelayFactor, maxRelayFactor))
	}
	if p.Timeout < 0 || p.Timeout > maxQueryTimeout {
		problems = append(problems, fmt.Errorf("%w: Timeout %v, allowed 0 to %v", ErrInvalidArgument, p.Timeout, maxQueryTimeout))
	}
	if len(p.FilterNodes) > maxFilters || len(p.FilterTags) > maxFilters {
		problems = append(problems, fmt.Errorf("%w: at most %d node and %d tag filters", ErrInvalidArgument, maxFilters, maxFilters))
	}
	for _, n := range p.FilterNodes {
		if validateName(n) != nil {
			problems = append(problems, fmt.Errorf("%w: FilterNodes: bad node name %q", ErrInvalidArgument, n))
		}
	}
	filters := make([]tagFilter, 0, len(p.FilterTags))
	for k, expr := range p.FilterTags {
		if _, err := regexp.Compile(anchored(expr)); err != nil {
			problems = append(problems, fmt.Errorf("%w: FilterTags[%q]: %v", ErrInvalidArgument, k, err))
		}
		filters = append(filters, tagFilter{Key: k, Expr: expr})
	}
	slices.SortFunc(filters, func(a, b tagFilter) int { return cmpString(a.Key, b.Key) })
	return filters, errors.Join(problems...)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func anchored(expr string) string { return "^(?:" + expr + ")$" }

// compiledFilter is a tag filter ready to match; re is nil when the
// expression does not compile, which matches nothing.
type compiledFilter struct {
	key string
	re  *regexp.Regexp
}

func compileFilters(fs []tagFilter) []compiledFilter {
	out := make([]compiledFilter, len(fs))
	for i, f := range fs {
		re, _ := regexp.Compile(anchored(f.Expr))
		out[i] = compiledFilter{key: f.Key, re: re}
	}
	return out
}

// matchesQuery reports whether a member with name and tags is selected by
// the filters.
func matchesQuery(name string, tags map[string]string, nodes []string, filters []compiledFilter) bool {
	if len(nodes) > 0 && !slices.Contains(nodes, name) {
		return false
	}
	for _, f := range filters {
		v, ok := tags[f.key]
		if !ok || f.re == nil || !f.re.MatchString(v) {
			return false
		}
	}
	return true
}

// awaitQuery finishes r at its deadline, when ctx ends, at Close, or when
// the node stops. Meanwhile it sends the query again, directly, to the
// expected members that have not answered, every quarter of the timeout (at
// least four gossip intervals apart): gossip reaches every member, and
// answers come back, only with high probability.
func (m *Membership) awaitQuery(ctx context.Context, r *QueryResult) {
	timer := time.NewTimer(time.Until(r.deadline))
	defer timer.Stop()
	resend := time.NewTicker(max(time.Until(r.deadline)/4, 4*m.timing.GossipInterval))
	defer resend.Stop()
	for {
		select {
		case <-resend.C:
			retry := append([]byte{byte(msgQueryRetry)}, r.raw[1:]...)
			for _, name := range r.unanswered() {
				if to, ok := m.memberNamed(name); ok && name != m.cfg.Name {
					m.sendTo(to, retry)
				}
			}
			continue
		case <-timer.C:
		case <-ctx.Done():
		case <-r.stop:
		case <-r.done:
		case <-m.loopCtx.Done():
		}
		m.finishQuery(r)
		return
	}
}

// unanswered returns the expected members that have not both acked and
// responded.
func (r *QueryResult) unanswered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.expected {
		if !r.acked[n] || !r.responded[n] {
			out = append(out, n)
		}
	}
	return out
}

// finishQuery closes r's channels and forgets it.
func (m *Membership) finishQuery(r *QueryResult) {
	q := &m.msgs.queries
	q.mu.Lock()
	delete(q.pending, r.id)
	q.mu.Unlock()
	r.finish()
}

func (r *QueryResult) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	close(r.acks)
	close(r.resps)
	close(r.done)
}

// deliver records a response or ack for r, and finishes r once every
// expected member has acked and responded; it never blocks.
func (r *QueryResult) deliver(resp responseMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if resp.Flags&respAck != 0 {
		if !r.acked[resp.From] && len(r.acked) < cap(r.acks) {
			r.acked[resp.From] = true
			r.acks <- resp.From
		}
	} else if !r.responded[resp.From] && len(r.responded) < cap(r.resps) {
		r.responded[resp.From] = true
		r.resps <- toQueryResponse(resp)
	}
	for _, n := range r.expected {
		if !r.acked[n] || !r.responded[n] {
			return
		}
	}
	r.closed = true
	close(r.acks)
	close(r.resps)
	close(r.done)
}

func toQueryResponse(r responseMsg) QueryResponse {
	out := QueryResponse{From: r.From}
	switch {
	case r.Flags&respNoHandler != 0:
		out.Err = &RemoteError{From: r.From, Message: "no handler for this query", noHandler: true}
	case r.Flags&respError != 0:
		out.Err = &RemoteError{From: r.From, Message: string(r.Payload)}
	default:
		out.Payload = r.Payload
	}
	return out
}

// handleQuery processes a query seen for the first time: it passes it on
// by gossip (unless it came directly, as a retry) and, if the local node
// matches the filters, acks and answers. A retry of a query already
// answered is answered again from the cache.
func (m *Membership) handleQuery(q queryMsg, raw []byte, retry bool) {
	ms := m.msgs
	ms.queryClock.witness(q.LTime)
	key := queryKey(q.ID, q.Origin)
	ms.mu.Lock()
	fresh := ms.querySeen.add(q.LTime, ms.queryClock.time(), key, nil)
	ms.mu.Unlock()
	if !fresh {
		if retry {
			m.answerAgain(q, key)
		}
		return
	}
	if !retry {
		ms.queueBroadcast(raw)
	}
	tags := m.meta.current().Tags
	if !matchesQuery(m.cfg.Name, tags, q.FilterNodes, compileFilters(q.FilterTags)) {
		return
	}
	m.logger.Debug("answering a query", "query", q.Name, "origin", q.Origin)
	m.respond(q, responseMsg{Flags: respAck})
	h, ok := m.takeHandler(q.Name)
	switch {
	case h == nil && ok:
		m.respond(q, responseMsg{Flags: respNoHandler})
	case h == nil:
		m.respond(q, responseMsg{Flags: respError, Payload: []byte("too many queries in progress")})
	case !m.spawn(func() { m.runHandler(q, h) }):
		m.releaseHandler()
	}
}

// takeHandler returns the handler for name and counts it as running; nil
// and true when there is none, nil and false when too many run.
func (m *Membership) takeHandler(name string) (QueryHandler, bool) {
	q := &m.msgs.queries
	q.mu.Lock()
	defer q.mu.Unlock()
	h, ok := q.internal[name]
	if !ok {
		h, ok = q.handlers[name]
	}
	if !ok {
		return nil, true
	}
	if q.running >= maxHandlers {
		return nil, false
	}
	q.running++
	return h, true
}

func (m *Membership) releaseHandler() {
	q := &m.msgs.queries
	q.mu.Lock()
	q.running--
	q.mu.Unlock()
}

func (m *Membership) runHandler(q queryMsg, h QueryHandler) {
	defer m.releaseHandler()
	ctx, cancel := context.WithTimeout(m.loopCtx, q.Timeout)
	defer cancel()
	out, err := callHandler(ctx, h, q.Payload)
	resp := responseMsg{Payload: out}
	if err != nil {
		resp = responseMsg{Flags: respError, Payload: []byte(truncateText(err.Error(), MaxMessageSize/2))}
	}
	m.respond(q, resp)
}

// callHandler runs h, turning a panic into an error.
func callHandler(ctx context.Context, h QueryHandler, payload []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h(ctx, payload)
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func queryKey(id uint64, origin string) string { return strconv.FormatUint(id, 16) + "/" + origin }

// answerCacheSize is how many answered queries a node remembers, to answer
// a retry again.
const answerCacheSize = 256

// answers remembers the last responses sent, by query, oldest first out.
type answers struct {
	byKey map[string][]byte
	order []string
}

func (a *answers) put(key string, raw []byte) {
	if a.byKey == nil {
		a.byKey = map[string][]byte{}
	}
	if _, ok := a.byKey[key]; !ok {
		a.order = append(a.order, key)
	}
	a.byKey[key] = raw
	if len(a.order) > answerCacheSize {
		delete(a.byKey, a.order[0])
		a.order = a.order[1:]
	}
}

// answerAgain re-sends the ack and, once the handler answered, the response
// for a query this node has seen, if it matched.
func (m *Membership) answerAgain(q queryMsg, key string) {
	qs := &m.msgs.queries
	qs.mu.Lock()
	raw, ok := qs.answered.byKey[key]
	qs.mu.Unlock()
	if !matchesQuery(m.cfg.Name, m.meta.current().Tags, q.FilterNodes, compileFilters(q.FilterTags)) {
		return
	}
	m.respond(q, responseMsg{Flags: respAck})
	if ok {
		m.send(q, raw)
	}
}

// respond sends resp for q to its origin, directly and through
// q.RelayFactor other members; a response (not an ack) is remembered for
// retries.
func (m *Membership) respond(q queryMsg, resp responseMsg) {
	resp.LTime, resp.ID, resp.From = q.LTime, q.ID, m.cfg.Name
	raw := resp.encode()
	if len(raw) > MaxMessageSize {
		resp = responseMsg{LTime: q.LTime, ID: q.ID, From: m.cfg.Name, Flags: respError,
			Payload: fmt.Appendf(nil, "response of %d bytes, at most %d", len(raw), MaxMessageSize)}
		raw = resp.encode()
	}
	if resp.Flags&respAck == 0 {
		qs := &m.msgs.queries
		qs.mu.Lock()
		qs.answered.put(queryKey(q.ID, q.Origin), raw)
		qs.mu.Unlock()
	}
	if q.Origin == m.cfg.Name {
		m.handleResponse(resp)
		return
	}
	m.send(q, raw)
}

// send sends an encoded response for q to its origin, directly and through
// q.RelayFactor other members.
func (m *Membership) send(q queryMsg, raw []byte) {
	origin, ok := m.memberNamed(q.Origin)
	if !ok {
		m.logger.Debug("query origin unknown; response not sent", "origin", q.Origin, "query", q.Name)
		return
	}
	m.sendTo(origin, raw)
	if q.RelayFactor == 0 {
		return
	}
	relay := relayMsg{Target: q.Origin, Inner: raw}.encode()
	for _, via := range m.relayTargets(int(q.RelayFactor), q.Origin) {
		m.sendTo(via, relay)
	}
}

// memberNamed returns the alive member called name.
func (m *Membership) memberNamed(name string) (Member, bool) {
	var (
		mem Member
		ok  bool
	)
	m.hub.read(func(t *table) { mem, ok = t.get(name) })
	return mem, ok && mem.Status == StatusAlive
}

// relayTargets picks up to n random alive members other than the local
// node and except.
func (m *Membership) relayTargets(n int, except string) []Member {
	var alive []Member
	m.hub.read(func(t *table) { alive = t.withStatus(StatusAlive) })
	alive = slices.DeleteFunc(alive, func(x Member) bool { return x.Name == except || x.Name == m.cfg.Name })
	rand.Shuffle(len(alive), func(i, j int) { alive[i], alive[j] = alive[j], alive[i] })
	return alive[:min(n, len(alive))]
}

// sendTo sends a user message to one member, best effort.
func (m *Membership) sendTo(to Member, msg []byte) {
	ml, err := m.running()
	if err != nil {
		return
	}
	if err := ml.SendToAddress(memberlist.Address{Addr: to.Address(), Name: to.Name}, msg); err != nil {
		m.logger.Debug("message not sent", "to", to.Name, "error", err)
	}
}

// handleResponse routes a response or ack to the pending query.
func (m *Membership) handleResponse(resp responseMsg) {
	q := &m.msgs.queries
	q.mu.Lock()
	r, ok := q.pending[resp.ID]
	q.mu.Unlock()
	if !ok || r.ltime != resp.LTime {
		return
	}
	r.deliver(resp)
}

// handleRelay forwards a relayed response to its target.
func (m *Membership) handleRelay(rl relayMsg) {
	if rl.Target == m.cfg.Name {
		if d, err := decodeMsg(rl.Inner); err == nil && d.response != nil {
			m.handleResponse(*d.response)
		}
		return
	}
	if to, ok := m.memberNamed(rl.Target); ok {
		m.sendTo(to, rl.Inner)
	}
}
