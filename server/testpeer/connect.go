package testpeer

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/zkd-io/zkd/server/proto"
)

// RawConnect opens a connection to a ZooKeeper server at addr and sends a
// ConnectRequest for session (0 asks for a new one) with passwd (nil: 16
// zero bytes) and timeout, then reads the ConnectResponse. A refused
// re-attach is a response with TimeOut 0. The caller owns the returned
// connection (open on success) and must close it.
func RawConnect(addr string, session int64, passwd []byte, timeout time.Duration) (proto.ConnectResponse, net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return proto.ConnectResponse{}, nil, err
	}
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	req := proto.Marshal(&proto.ConnectRequest{TimeOut: int32(timeout / time.Millisecond), SessionID: session, Passwd: passwd})
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(req))), req...)); err != nil {
		nc.Close()
		return proto.ConnectResponse{}, nil, err
	}
	var lb [4]byte
	if _, err := io.ReadFull(nc, lb[:]); err != nil {
		nc.Close()
		return proto.ConnectResponse{}, nil, fmt.Errorf("no connect response: %w", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(lb[:]))
	if _, err := io.ReadFull(nc, b); err != nil {
		nc.Close()
		return proto.ConnectResponse{}, nil, fmt.Errorf("no connect response: %w", err)
	}
	var resp proto.ConnectResponse
	if err := proto.Unmarshal(b, 0, &resp); err != nil {
		nc.Close()
		return proto.ConnectResponse{}, nil, fmt.Errorf("connect response: %w", err)
	}
	return resp, nc, nil
}
