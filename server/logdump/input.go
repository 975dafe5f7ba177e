// Package logdump is the engine of "zkd logdump": an offline, read-only
// inspector for ZooKeeper 3.8 (and zkd) txn logs, snapshots and whole data
// directories.
//
// It never writes and takes no locks, so it is safe to point at a live
// server's files: the txnlog iterator fixes each file's end when it opens it,
// and snapshots are only ever renamed into place. Everything that looks at
// time takes it from the records, never from a clock, so output is
// reproducible and testable with golden files.
package logdump

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/zkd-io/zkd/server/snapshot"
	"github.com/zkd-io/zkd/server/txnlog"
)

// Input is what the user pointed logdump at, resolved into the files it
// reads: a single log, a single snapshot, or a version-2 directory holding
// both.
type Input struct {
	// Dir is the version-2 directory when the input was a directory, else "".
	Dir string
	// Logs are the txn log files in start-zxid order.
	Logs []txnlog.File
	// Snapshots are the snapshot files, newest first.
	Snapshots []snapshot.File
}

// IsSnapshot reports whether the input is one snapshot file.
func (in *Input) IsSnapshot() bool {
	return in.Dir == "" && len(in.Snapshots) == 1 && len(in.Logs) == 0
}

var (
	logMagic  = []byte("ZKLG")
	snapMagic = []byte("ZKSN")
)

// Open resolves path: a directory (a dataDir holding version-2/, or the
// version-2 directory itself), or one file recognised by its magic
// ("ZKLG" for logs, "ZKSN" for snapshots) or, for compressed snapshots and
// files too damaged to show a magic, by its name.
func Open(path string) (*Input, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("logdump: %w", err)
	}
	if fi.IsDir() {
		return openDir(path)
	}
	head := make([]byte, 4)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("logdump: %w", err)
	}
	n, _ := io.ReadFull(f, head)
	f.Close()
	head = head[:n]
	base := filepath.Base(path)
	switch {
	case bytes.Equal(head, logMagic) || (!bytes.Equal(head, snapMagic) && strings.HasPrefix(base, "log.")):
		return &Input{Logs: []txnlog.File{{Path: path, StartZxid: zxidFromName(base)}}}, nil
	case bytes.Equal(head, snapMagic) || strings.HasPrefix(base, "snapshot."):
		return &Input{Snapshots: []snapshot.File{{Path: path, Zxid: snapshot.ZxidFromName(base), Method: methodFromName(base), Valid: true}}}, nil
	}
	return nil, fmt.Errorf("logdump: %s is neither a txn log (magic ZKLG) nor a snapshot (magic ZKSN, or a snapshot.* name)", path)
}

func openDir(path string) (*Input, error) {
	dir := path
	if fi, err := os.Stat(filepath.Join(path, "version-2")); err == nil && fi.IsDir() {
		dir = filepath.Join(path, "version-2")
	}
	logs, err := txnlog.Files(dir)
	if err != nil {
		return nil, fmt.Errorf("logdump: list logs: %w", err)
	}
	snaps, err := snapshot.List(dir)
	if err != nil {
		return nil, fmt.Errorf("logdump: list snapshots: %w", err)
	}
	if len(logs) == 0 && len(snaps) == 0 {
		return nil, fmt.Errorf("logdump: %s holds no log.* or snapshot.* files (nor does a version-2 directory inside it)", path)
	}
	return &Input{Dir: dir, Logs: logs, Snapshots: snaps}, nil
}

func zxidFromName(base string) int64 {
	parts := strings.Split(base, ".")
	if len(parts) < 2 {
		return -1
	}
	var z int64
	if _, err := fmt.Sscanf(parts[1], "%x", &z); err != nil {
		return -1
	}
	return z
}

func methodFromName(base string) string {
	switch {
	case strings.HasSuffix(base, ".gz"):
		return snapshot.MethodGzip
	case strings.HasSuffix(base, ".snappy"):
		return snapshot.MethodSnappy
	}
	return snapshot.MethodNone
}

// Problem is one thing wrong with the data, located by file and offset.
type Problem struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Kind   string `json:"kind"` // checksum, length, magic, decode, torn-tail, gap, overlap, name, snapshot, io
	Detail string `json:"detail"`
}

func (p Problem) String() string {
	return fmt.Sprintf("%s offset %d: %s: %s", p.File, p.Offset, p.Kind, p.Detail)
}

// scanLogs reads the input's logs in order, starting with the file that can
// hold fromZxid (ZooKeeper's FileTxnIterator choice), and calls fn for every
// record, including those whose checksum does not match (ChecksumOK false).
// Unlike ZooKeeper it does not stop at a damaged file: the damage is passed
// to problem and reading goes on with the next file, because a forensic tool
// should show everything that can still be read.
func scanLogs(in *Input, fromZxid int64, fn func(e *txnlog.Entry) error, problem func(Problem)) error {
	files := in.Logs
	start := 0
	for i := range files {
		if i+1 < len(files) && files[i+1].StartZxid <= fromZxid {
			start = i + 1
		}
	}
	for _, f := range files[start:] {
		if err := scanFile(f.Path, fn, problem); err != nil {
			return err
		}
	}
	return nil
}

func scanFile(path string, fn func(e *txnlog.Entry) error, problem func(Problem)) error {
	it, err := txnlog.NewFileIterator(path, txnlog.ReadOptions{ContinueOnChecksumError: true})
	if err != nil {
		var ce *txnlog.CorruptError
		if errors.As(err, &ce) {
			problem(corruptProblem(ce))
			return nil
		}
		problem(Problem{File: filepath.Base(path), Kind: "io", Detail: err.Error()})
		return nil
	}
	defer it.Close()
	for {
		e, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var ce *txnlog.CorruptError
			if errors.As(err, &ce) {
				problem(corruptProblem(ce))
			} else {
				problem(Problem{File: filepath.Base(path), Kind: "io", Detail: err.Error()})
			}
			break
		}
		if !e.ChecksumOK {
			problem(Problem{File: filepath.Base(e.File), Offset: e.Offset, Kind: txnlog.KindChecksum,
				Detail: fmt.Sprintf("stored checksum %#x does not match the record (zxid %#x as decoded)", e.Checksum, e.Hdr.Zxid)})
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	for _, t := range it.TornTails() {
		problem(Problem{File: filepath.Base(t.File), Offset: t.Offset, Kind: "torn-tail", Detail: t.Reason})
	}
	return nil
}

func corruptProblem(ce *txnlog.CorruptError) Problem {
	detail := ce.Error()
	if ce.Err != nil {
		detail = ce.Err.Error()
	}
	if ce.LastGoodZxid != 0 {
		detail += fmt.Sprintf(" (last good zxid %#x)", ce.LastGoodZxid)
	}
	return Problem{File: filepath.Base(ce.File), Offset: ce.Offset, Kind: ce.Kind, Detail: detail}
}
