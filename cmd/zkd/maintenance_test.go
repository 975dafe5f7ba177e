package main

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/datatree"
	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/storage"
	"github.com/zkd-io/zkd/server/txnlog"
)

// writeLog commits txns 1..n to a fresh store in dir.
func writeLog(t *testing.T, dir string, n int) {
	t.Helper()
	s, err := storage.Open(storage.Options{DataDir: dir, PreAllocSize: 4096, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Restore(datatree.Options{}); err != nil {
		t.Fatal(err)
	}
	for z := int64(1); z <= int64(n); z++ {
		hdr := proto.TxnHeader{ClientID: z, Zxid: z, Time: 1, Type: proto.OpCreateSession}
		if err := s.Append(&hdr, &proto.CreateSessionTxn{TimeOut: 4000}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func lastZxid(t *testing.T, dir string) int64 {
	t.Helper()
	it, err := txnlog.NewIterator(filepath.Join(dir, storage.VersionDir), 0, txnlog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var last int64
	for {
		e, err := it.Next()
		if errors.Is(err, io.EOF) {
			return last
		}
		if err != nil {
			t.Fatal(err)
		}
		last = e.Hdr.Zxid
	}
}

func TestTruncateLogCommand(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 10)
	var out, errOut bytes.Buffer
	if err := run([]string{"truncate-log", "-zxid", "0x4", dir}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if got := lastZxid(t, dir); got != 4 {
		t.Fatalf("log ends at 0x%x after truncate-log -zxid 0x4", got)
	}
	if !strings.Contains(out.String(), "0x4") {
		t.Errorf("output %q", out.String())
	}
	for _, args := range [][]string{{"truncate-log", dir}, {"truncate-log", "-zxid", "nope", dir}} {
		if err := run(args, &out, &errOut); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestPurgeCommand(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 3) // snapshot.0 and one log: nothing to purge
	var out, errOut bytes.Buffer
	if err := run([]string{"purge", "-n", "3", "-dry-run", dir}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "would delete 0 snapshots and 0 txn logs") {
		t.Errorf("dry run output %q", out.String())
	}
	if err := run([]string{"purge", "-n", "2", dir}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "at least 3") {
		t.Errorf("keeping 2 snapshots: err=%v", err)
	}
}
