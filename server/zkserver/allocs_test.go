package zkserver_test

import (
	"io"
	"testing"
	"time"

	"github.com/zkd-io/zkd/server/proto"
)

// TestGetDataAllocations holds the read path to its allocation budget: a
// getData answered over a real socket allocates a few small records and
// nothing per byte (reads are what a coordination service serves most,
// and garbage per read is GC work taken from every other request). The client side is a raw socket with
// a prebuilt request and a reused reply buffer, so it allocates nothing.
func TestGetDataAllocations(t *testing.T) {
	addr, _ := startServer(t)
	w := dialWire(t, addr)
	w.connect()
	payload := make([]byte, 128)
	if h, _ := w.call(1, proto.OpCreate, &proto.CreateRequest{Path: "/a", Data: payload, ACL: proto.OpenACLUnsafe}); h.Err != proto.ErrOK {
		t.Fatalf("create: %v", h.Err)
	}
	req := request(2, proto.OpGetData, proto.Marshal(&proto.PathWatchRequest{Path: "/a"}))
	if err := w.write(req); err != nil {
		t.Fatal(err)
	}
	first, err := w.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 4+len(first)) // every reply has this length
	_ = w.nc.SetDeadline(time.Now().Add(time.Minute))
	var failed error
	get := func() {
		if failed != nil {
			return
		}
		if _, err := w.nc.Write(req); err != nil {
			failed = err
			return
		}
		if _, err := io.ReadFull(w.r, reply); err != nil {
			failed = err
		}
	}
	allocs := testing.AllocsPerRun(2000, get)
	if failed != nil {
		t.Fatal(failed)
	}
	t.Logf("%.1f allocations per getData", allocs)
	// The request record (it reaches an interface), its path and the
	// response record. The decoder is recycled (jute.GetDecoder). Reading
	// the frame, encoding the reply and writing it allocate nothing: 14
	// before those were made to reuse their buffers and callbacks.
	const maxGetDataAllocs = 3
	if allocs > maxGetDataAllocs {
		t.Errorf("%.1f allocations per getData, budget %d", allocs, maxGetDataAllocs)
	}
}
