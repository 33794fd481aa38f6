package consensus

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/conclave-go/conclave/internal/rpc"
	"github.com/conclave-go/conclave/internal/wire"
)

// handle serves Conclave's RPC on this node. Requests from clients may be
// forwarded to the leader once; requests already forwarded never are.
func (n *Node) handle(ctx context.Context, method uint8, req []byte) ([]byte, error) {
	if n.usable() != nil {
		return nil, rpc.Errorf(codeClosed, "server closing")
	}
	switch method {
	case methodApply:
		return n.handleApply(ctx, req)
	case methodApplyBatch:
		return n.handleApplyBatch(ctx, req)
	case methodReadIndex:
		return n.handleReadIndex(ctx, req)
	case methodQuery:
		return n.handleQuery(ctx, req)
	case methodChange:
		return n.handleChange(ctx, req)
	case methodStatus:
		return n.handleStatus(req)
	default:
		return nil, rpc.Errorf(rpc.CodeUnknownMethod, "unknown method %d", method)
	}
}

func (n *Node) badRequest(method uint8, err error) error {
	n.logger.Warn("rejected malformed request", "method", method, "error", err)
	return rpc.Errorf(codeBadRequest, "%s", clip(err.Error()))
}

func (n *Node) handleApply(ctx context.Context, req []byte) ([]byte, error) {
	m, err := decodeApplyRequest(req, n.cfg.Tuning.MaxMessageSize)
	if err != nil {
		return nil, n.badRequest(methodApply, err)
	}
	var data []byte
	if m.forwarded {
		data, err = n.applyOnce(ctx, m.cmd, false)
	} else {
		data, err = n.apply(ctx, m.cmd)
	}
	if err == nil && len(data) > n.cfg.Tuning.MaxMessageSize {
		return nil, rpc.Errorf(codeOutcomeUnknown,
			"the command was applied but its result of %d bytes exceeds MaxMessageSize", len(data))
	}
	return n.reply(data, err)
}

// handleApplyBatch applies the commands of a batch forwarded by a follower;
// a batch is never forwarded again.
func (n *Node) handleApplyBatch(ctx context.Context, req []byte) ([]byte, error) {
	m, err := decodeApplyBatchRequest(req, n.cfg.Tuning.MaxMessageSize)
	if err != nil {
		return nil, n.badRequest(methodApplyBatch, err)
	}
	if n.raft.State() != raft.Leader {
		return nil, toRemote(n.notLeader())
	}
	outs, err := n.applyBatchLocal(ctx, m.cmds)
	if err != nil {
		return nil, toRemote(err)
	}
	return n.batchReply(outs).encode(), nil
}

// batchReply encodes each outcome as the unbatched reply would carry it. An
// outcome that no longer fits the reply's budget becomes itemDropped (the
// caller learns that the outcome is unknown).
func (n *Node) batchReply(outs []batchOutcome) batchReply {
	// One byte per item (its kind) is reserved.
	room := batchBudget(n.cfg.Tuning.MaxMessageSize) - wire.UvarintSize(uint64(len(outs))) - len(outs)
	items := make([]batchItem, len(outs))
	for i, o := range outs {
		it := n.batchItem(o)
		if extra := it.size() - 1; extra > room {
			it = batchItem{kind: itemDropped}
		} else {
			room -= extra
		}
		items[i] = it
	}
	return batchReply{items: items}
}

// batchItem encodes one outcome like reply does for a single apply.
func (n *Node) batchItem(o batchOutcome) batchItem {
	var sme *StateMachineError
	switch {
	case errors.As(o.err, &sme):
		return batchItem{kind: itemSMErr, payload: []byte(clip(sme.Err.Error()))}
	case o.err != nil:
		var re *rpc.RemoteError
		errors.As(toRemote(o.err), &re)
		return batchItem{kind: itemErr, code: re.Code, payload: []byte(re.Message)}
	case len(o.data) > n.cfg.Tuning.MaxMessageSize:
		return batchItem{kind: itemErr, code: codeOutcomeUnknown,
			payload: fmt.Appendf(nil, "the command was applied but its result of %d bytes exceeds MaxMessageSize", len(o.data))}
	}
	return batchItem{kind: itemOK, payload: o.data}
}

func (n *Node) handleReadIndex(ctx context.Context, req []byte) ([]byte, error) {
	if _, err := decodeReadIndexRequest(req); err != nil {
		return nil, n.badRequest(methodReadIndex, err)
	}
	if n.raft.State() != raft.Leader {
		return nil, toRemote(n.notLeader())
	}
	index, err := n.reads.get(ctx, n.closing)
	if err != nil {
		return nil, toRemote(err)
	}
	return readIndexResponse{index: index}.encode(), nil
}

func (n *Node) handleQuery(ctx context.Context, req []byte) ([]byte, error) {
	m, err := decodeQueryRequest(req, n.cfg.Tuning.MaxMessageSize)
	if err != nil {
		return nil, n.badRequest(methodQuery, err)
	}
	data, err := n.query(ctx, m.level, m.query, !m.forwarded)
	if err == nil && len(data) > n.cfg.Tuning.MaxMessageSize {
		return nil, rpc.Errorf(codeTooLarge, "result of %d bytes exceeds MaxMessageSize", len(data))
	}
	return n.reply(data, err)
}

func (n *Node) handleChange(ctx context.Context, req []byte) ([]byte, error) {
	m, err := decodeChangeRequest(req)
	if err == nil {
		err = m.validate()
	}
	if err != nil {
		return nil, n.badRequest(methodChange, err)
	}
	if m.forwarded {
		err = n.changeOnce(ctx, m, false)
	} else {
		err = retryLoop(ctx, n.closing, n.lead.changedCh, func() error { return n.changeOnce(ctx, m, true) })
	}
	if err != nil {
		return nil, toRemote(err)
	}
	return nil, nil
}

func (n *Node) handleStatus(req []byte) ([]byte, error) {
	if _, err := decodeStatusRequest(req); err != nil {
		return nil, n.badRequest(methodStatus, err)
	}
	return encodeStatus(n.Status()), nil
}

// reply encodes the result of an apply or a query: a state machine error
// travels in the body, any other error as an RPC error.
func (n *Node) reply(data []byte, err error) ([]byte, error) {
	var sme *StateMachineError
	if errors.As(err, &sme) {
		return result{smErr: true, payload: []byte(clip(sme.Err.Error()))}.encode(), nil
	}
	if err != nil {
		return nil, toRemote(err)
	}
	return result{payload: data}.encode(), nil
}
