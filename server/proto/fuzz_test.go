package proto

import (
	"reflect"
	"testing"

	"github.com/zkd-io/zkd/server/jute"
)

// fuzzMaxLen is a small decoder limit, so the fuzzer also reaches the
// over-the-limit paths with short inputs.
const fuzzMaxLen = 4096

// checkRecordRoundTrip is the property every fuzz target checks: decoding
// never panics; whatever decodes re-encodes to exactly as many bytes as it
// was read from (so nothing decoded outgrows its input), and decoding the
// re-encoding gives an equal value.
func checkRecordRoundTrip(t *testing.T, in []byte, fresh func() Record) {
	first := fresh()
	if err := Unmarshal(in, fuzzMaxLen, first); err != nil {
		if err.Error() == "" {
			t.Fatal("error without a message")
		}
		return
	}
	again := Marshal(first)
	if len(again) != len(in) {
		t.Fatalf("%T decoded from %d bytes re-encodes to %d", first, len(in), len(again))
	}
	second := fresh()
	if err := Unmarshal(again, fuzzMaxLen, second); err != nil {
		t.Fatalf("re-encoding of %#v does not decode: %v", first, err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("round trip changed the value:\n first %#v\nsecond %#v", first, second)
	}
}

// FuzzRecord decodes the input as the record picked by sel: every request
// and response record, the connect handshake and the txn bodies.
// MultiResponse has its own target, FuzzMultiResponse.
func FuzzRecord(f *testing.F) {
	var cases []roundTripCase
	for _, c := range roundTripCases() {
		if _, ok := c.rec.(*MultiResponse); !ok {
			cases = append(cases, c)
		}
	}
	for i, c := range cases {
		f.Add(byte(i), Marshal(c.rec))
	}
	f.Add(byte(0), []byte{})
	f.Fuzz(func(t *testing.T, sel byte, in []byte) {
		checkRecordRoundTrip(t, in, cases[int(sel)%len(cases)].fresh)
	})
}

// FuzzMultiRequest targets the multi decoder, whose op list is only ended
// by a terminator header and whose op types pick the record to decode.
func FuzzMultiRequest(f *testing.F) {
	for _, c := range roundTripCases() {
		if _, ok := c.rec.(*MultiRequest); ok {
			f.Add(Marshal(c.rec))
		}
	}
	f.Add([]byte{0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		checkRecordRoundTrip(t, in, func() Record { return &MultiRequest{} })
	})
}

// FuzzMultiResponse targets the multi result decoder, which clients run
// but the server also uses in tests against Apache ZooKeeper.
func FuzzMultiResponse(f *testing.F) {
	for _, c := range roundTripCases() {
		if _, ok := c.rec.(*MultiResponse); ok {
			f.Add(Marshal(c.rec))
		}
	}
	f.Add(Marshal(&MultiResponse{}))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkRecordRoundTrip(t, in, func() Record { return &MultiResponse{} })
	})
}

// FuzzConnectRequest targets the first frame of every connection, which
// an unauthenticated peer controls entirely.
func FuzzConnectRequest(f *testing.F) {
	f.Add(Marshal(&ConnectRequest{TimeOut: 30000, Passwd: make([]byte, 16), HasReadOnly: true}))
	f.Add(Marshal(&ConnectRequest{TimeOut: 30000, SessionID: 0x100, Passwd: make([]byte, 16)}))
	f.Add(Marshal(&ConnectRequest{TimeOut: 30000}))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkRecordRoundTrip(t, in, func() Record { return &ConnectRequest{} })
	})
}

// FuzzDecodeTxn targets txn log payloads: header, body by type, optional
// digest. It is seeded with the entries of Apache ZooKeeper's test logs.
func FuzzDecodeTxn(f *testing.F) {
	for _, name := range []string{"data_buffersize_create_version-2_log.1", "data_invalidsnap_version-2_log.42"} {
		_, entries := readTxnLog(f, name)
		for _, ent := range entries {
			f.Add(ent.payload)
		}
	}
	for _, txn := range sampleTxns() {
		for _, digest := range []*TxnDigest{nil, {Version: 2, TreeDigest: 77}} {
			e := jute.NewEncoder(nil)
			EncodeTxn(e, &TxnHeader{ClientID: 1, Cxid: 2, Zxid: 3, Time: 4, Type: txn.TxnType()}, txn, digest)
			f.Add(e.Bytes())
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		hdr, txn, digest, err := DecodeTxn(in, fuzzMaxLen)
		if err != nil {
			if txn != nil || digest != nil {
				t.Fatalf("error %v returned with a txn %#v / digest %#v", err, txn, digest)
			}
			return
		}
		if txn == nil || txn.TxnType() != hdr.Type {
			t.Fatalf("header type %d decoded as %#v", hdr.Type, txn)
		}
		e := jute.NewEncoder(nil)
		EncodeTxn(e, &hdr, txn, digest)
		if len(e.Bytes()) > len(in)+len(in)/4+4 {
			// Only a CreateTxnV0 (at least 13 bytes, more inside a multi)
			// grows, by its 4-byte parentCVersion.
			t.Fatalf("txn decoded from %d bytes re-encodes to %d", len(in), len(e.Bytes()))
		}
		hdr2, txn2, digest2, err := DecodeTxn(e.Bytes(), fuzzMaxLen)
		if err != nil {
			t.Fatalf("re-encoding of %#v does not decode: %v", txn, err)
		}
		if hdr2 != hdr || !reflect.DeepEqual(txn2, txn) || !reflect.DeepEqual(digest2, digest) {
			t.Fatalf("round trip changed the txn:\n first %+v %#v %+v\nsecond %+v %#v %+v", hdr, txn, digest, hdr2, txn2, digest2)
		}
	})
}
