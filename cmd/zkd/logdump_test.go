package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
	"github.com/zkd-io/zkd/server/txnlog"
)

// writeLogdumpLog writes a three-txn log and returns its path.
func writeLogdumpLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	w, err := txnlog.OpenWriter(txnlog.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	acl := []proto.ACL{{Perms: proto.PermAll, ID: proto.IDAnyoneUnsafe}}
	txns := []proto.Txn{
		&proto.CreateSessionTxn{TimeOut: 30000},
		&proto.CreateTxn{Path: "/x", Data: []byte("v"), ACL: acl, ParentCVersion: 1, Op: proto.OpCreate},
		&proto.DeleteTxn{Path: "/x", Op: proto.OpDelete},
	}
	for i, txn := range txns {
		hdr := proto.TxnHeader{ClientID: 0x42, Cxid: int32(i), Zxid: 0x100000001 + int64(i), Time: 1700000000000, Type: txn.TxnType()}
		if err := w.Append(&hdr, txn, nil); err != nil {
			t.Fatal(err)
		}
	}
	path := w.CurrentFile()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLogdumpCLI(t *testing.T) {
	logPath := writeLogdumpLog(t)
	damaged := filepath.Join(t.TempDir(), filepath.Base(logPath))
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	b[16+12+33] ^= 0xff // a byte inside the first record's payload
	if err := os.WriteFile(damaged, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		code    int // 0: no error
		stdout  string
		stderrs string
	}{
		{"help", []string{"logdump", "-h"}, 0, "usage: zkd logdump", ""},
		{"dump", []string{"logdump", logPath}, 0, "zxid=0x100000002 create /x data(1)=\"v\"", "3 of 3 txns shown"},
		{"json", []string{"logdump", "--json", "--type", "delete", logPath}, 0, `"type":"delete","path":"/x"`, ""},
		{"verify clean", []string{"logdump", "--verify", logPath}, 0, "OK: 1 log files, 3 txns, zxid 0x100000001..0x100000003", ""},
		{"verify damaged", []string{"logdump", "--verify", damaged}, 1, "offset 16: checksum", ""},
		{"no args", []string{"logdump"}, 2, "", "usage: zkd logdump"},
		{"bad flag", []string{"logdump", "--frobnicate", logPath}, 2, "", "frobnicate"},
		{"bad type", []string{"logdump", "--type", "bogus", logPath}, 2, "", ""},
		{"bad zxid", []string{"logdump", "--from-zxid", "0xzz", logPath}, 2, "", ""},
		{"two modes", []string{"logdump", "--verify", "--stats", logPath}, 2, "", ""},
		{"missing file", []string{"logdump", filepath.Join(t.TempDir(), "nope")}, 1, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(tt.args, &out, &errOut)
			code := 0
			if err != nil {
				code = 1
				var ec interface{ ExitCode() int }
				if errors.As(err, &ec) {
					code = ec.ExitCode()
				}
			}
			if code != tt.code {
				t.Errorf("exit code %d (err %v), want %d\nstdout:\n%s\nstderr:\n%s", code, err, tt.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, out.String())
			}
			if !strings.Contains(errOut.String(), tt.stderrs) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderrs, errOut.String())
			}
		})
	}
}
