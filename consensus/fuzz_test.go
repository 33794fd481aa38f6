package consensus

import (
	"bytes"
	"testing"
)

// Each decoder must never panic on any input, and what it accepts must
// re-encode to the same bytes (the encoding is canonical).

const fuzzMax = 1 << 12

func FuzzDecodeApplyRequest(f *testing.F) {
	f.Add(applyRequest{header: header{forwarded: true}, cmd: []byte("set:a=1")}.encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeApplyRequest(b, fuzzMax)
		if err == nil && !bytes.Equal(m.encode(), b) {
			t.Fatalf("re-encoding %x gave %x", b, m.encode())
		}
	})
}

func FuzzDecodeResult(f *testing.F) {
	f.Add(result{smErr: true, payload: []byte("boom")}.encode())
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeResult(b, fuzzMax)
		if err == nil && !bytes.Equal(m.encode(), b) {
			t.Fatalf("re-encoding %x gave %x", b, m.encode())
		}
	})
}

func FuzzDecodeReadIndex(f *testing.F) {
	f.Add(readIndexResponse{index: 99}.encode())
	f.Add(readIndexRequest{header{forwarded: true}}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeReadIndexRequest(b); err == nil && !bytes.Equal(m.encode(), b) {
			t.Fatalf("request: re-encoding %x gave %x", b, m.encode())
		}
		if m, err := decodeReadIndexResponse(b); err == nil && !bytes.Equal(m.encode(), b) {
			t.Fatalf("response: re-encoding %x gave %x", b, m.encode())
		}
	})
}

func FuzzDecodeQueryRequest(f *testing.F) {
	f.Add(queryRequest{level: Stale, query: []byte("get:a")}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeQueryRequest(b, fuzzMax)
		if err == nil && !bytes.Equal(m.encode(), b) {
			t.Fatalf("re-encoding %x gave %x", b, m.encode())
		}
	})
}

func FuzzDecodeChangeRequest(f *testing.F) {
	f.Add(changeRequest{op: opAddVoter, id: "n1", addr: "127.0.0.1:7950"}.encode())
	f.Add(changeRequest{header: header{forwarded: true}, op: opTransfer}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeChangeRequest(b)
		if err == nil && !bytes.Equal(m.encode(), b) {
			t.Fatalf("re-encoding %x gave %x", b, m.encode())
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add(encodeStatus(sampleStatus()))
	failing := sampleStatus()
	failing.StorageError = "disk full: writes to the Raft log fail"
	f.Add(encodeStatus(failing))
	f.Add(statusRequest{}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeStatus(b); err == nil && !bytes.Equal(encodeStatus(s), b) {
			t.Fatalf("re-encoding %x gave %x", b, encodeStatus(s))
		}
		if m, err := decodeStatusRequest(b); err == nil && !bytes.Equal(m.encode(), b) {
			t.Fatalf("request: re-encoding %x gave %x", b, m.encode())
		}
	})
}

func FuzzReadSnapshotHeader(f *testing.F) {
	var buf bytes.Buffer
	_ = writeSnapshotHeader(&buf, 7)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := readSnapshotHeader(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		_ = writeSnapshotHeader(&out, idx)
		if !bytes.Equal(out.Bytes(), b[:snapshotHeaderSize]) {
			t.Fatalf("re-encoding %x gave %x", b[:snapshotHeaderSize], out.Bytes())
		}
	})
}

func FuzzDecodeApplyBatchRequest(f *testing.F) {
	f.Add(applyBatchRequest{header: header{forwarded: true}, cmds: [][]byte{[]byte("set:a=1"), {}, []byte("x")}}.encode())
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeApplyBatchRequest(b, fuzzMax)
		if err != nil {
			return
		}
		if len(m.cmds) == 0 || len(m.cmds) > maxBatchCount || !m.forwarded {
			t.Fatalf("accepted %d commands, forwarded=%v", len(m.cmds), m.forwarded)
		}
		if !bytes.Equal(m.encode(), b) {
			t.Fatalf("re-encoding %x gave %x", b, m.encode())
		}
	})
}

func FuzzDecodeBatchReply(f *testing.F) {
	f.Add(batchReply{items: []batchItem{
		{kind: itemOK, payload: []byte("v")},
		{kind: itemSMErr, payload: []byte("boom")},
		{kind: itemErr, code: codeNotLeader, payload: []byte("not the leader")},
		{kind: itemDropped},
	}}.encode())
	f.Add([]byte{1, itemDropped})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeBatchReply(b, fuzzMax)
		if err != nil {
			return
		}
		if len(m.items) == 0 || len(m.items) > maxBatchCount {
			t.Fatalf("accepted %d items", len(m.items))
		}
		if !bytes.Equal(m.encode(), b) {
			t.Fatalf("re-encoding %x gave %x", b, m.encode())
		}
	})
}

// VerifySnapshot never panics, and accepts only what writeBackup produces.
func FuzzVerifySnapshot(f *testing.F) {
	var good bytes.Buffer
	_ = writeBackup(&good, SnapshotInfo{Index: 9, Term: 2, Size: 3}, bytes.NewReader([]byte("abc")))
	f.Add(good.Bytes())
	f.Add([]byte(backupMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		var payload bytes.Buffer
		info, err := readBackup(bytes.NewReader(b), &payload)
		if err != nil {
			return
		}
		var again bytes.Buffer
		if err := writeBackup(&again, info, &payload); err != nil || !bytes.Equal(again.Bytes(), b) {
			t.Fatalf("accepted %x, which re-encodes to %x (%v)", b, again.Bytes(), err)
		}
	})
}
