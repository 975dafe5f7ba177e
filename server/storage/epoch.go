package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Epoch files, as a ZooKeeper quorum peer keeps them in the snapshot
// directory: the epoch as decimal ASCII without a newline.
const (
	CurrentEpochFile  = "currentEpoch"
	AcceptedEpochFile = "acceptedEpoch"
)

// ReadEpoch reads an epoch file; ok is false when it does not exist.
// Only the first line counts, as in ZooKeeper.
func (s *Store) ReadEpoch(name string) (epoch int64, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(s.snapDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("storage: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	v, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("storage: %s: %q is not an epoch", name, line)
	}
	return v, true, nil
}

// WriteEpoch replaces an epoch file atomically: a temporary file, fsync,
// rename, then an fsync of the directory, so a crash leaves either the old
// or the new value (ZooKeeper's AtomicFileWritingIdiom).
func (s *Store) WriteEpoch(name string, epoch int64) error {
	return writeFileAtomic(filepath.Join(s.snapDir, name), []byte(strconv.FormatInt(epoch, 10)))
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("storage: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("storage: fsync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("storage: fsync %s: %w", dir, err)
	}
	return nil
}
