// Package admin is the operator's view of a Conclave node: an http.Handler
// with JSON status endpoints, operations, and a status page for a browser.
//
// # Usage
//
//	h := admin.New(node, admin.Options{Authorize: checkToken})
//	defer h.Close()
//	mux.Handle("/cluster/", http.StripPrefix("/cluster", h))
//
// The handler serves paths relative to where it is mounted, so it must be
// mounted with http.StripPrefix (as above) or at the root.
//
// # Endpoints
//
// GET (and HEAD), JSON unless said otherwise; the documents are [MembersDoc],
// [RaftDoc], [LeaderAnswer], [HealthDoc] and [EventsDoc]:
//
//	/          the status page (HTML; it polls the endpoints below)
//	/members   the gossip member list with status, role and tags
//	/raft      the Raft configuration: suffrage, health, lag, last contact
//	/leader    the leader and term
//	/health    voters, healthy voters, failure tolerance
//	/events    the latest membership and leader events (a bounded ring)
//
// POST, with Content-Type: application/json (which a cross-site form cannot
// send), guarded by Options.Authorize; each answers an [OpDoc]:
//
//	/ops/transfer-leadership  {"to": "name"} or {} for any voter
//	/ops/remove-server        {"name": "name"}; refused when it would leave
//	                          fewer healthy voters than a quorum, and while
//	                          gossip sees the server alive (the reconciler
//	                          would add it back)
//	/ops/force-leave          {"name": "name"}: a failed member is marked
//	                          left on every member
//	/ops/snapshot             streams a snapshot of the state machine as a
//	                          download, when the node implements [Snapshotter]
//
// Every error is a JSON [ErrorDoc] naming what was wrong, with a fitting
// status: 400 bad request body or field, 403 refused by Authorize, 404
// unknown server or member, 405 wrong method, 409 refused (quorum, not
// failed, non-voter), 415 not JSON, 501 not available on this node, 503 no
// leader or node not running.
//
// Without Authorize anyone who reaches the handler can change the cluster
// and read its state: mount it only where trusted networks reach it.
package admin
