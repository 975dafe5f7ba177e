package prep

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/zkd-io/zkd/server/proto"
)

// ValidatePath is ZooKeeper's PathUtils.validatePath: a znode path starts
// with '/', does not end with '/' (unless it is "/"), has no empty, "." or
// ".." segment, and contains no NUL and no character in U+0001-U+001F,
// U+007F-U+009F, U+D800-U+F8FF or U+FFF0-U+FFFF. Java checks UTF-16 code
// units, so any character outside the Basic Multilingual Plane (a surrogate
// pair) is refused too, and so are bytes that are not UTF-8, which Java
// decodes to U+FFFD. The error wraps proto.KeeperError(proto.ErrBadArguments).
func ValidatePath(path string) error {
	if reason := pathProblem(path); reason != "" {
		return fmt.Errorf("invalid path %q: %s: %w", path, reason, proto.KeeperError(proto.ErrBadArguments))
	}
	return nil
}

// ValidateSequentialPath is PathUtils.validatePath(path, true), the check a
// client makes before a sequential create: the path is validated as if the
// sequence number were already appended, so "/locks/" is valid and names
// children of /locks. The server needs no separate check: it validates the
// path after appending the suffix.
func ValidateSequentialPath(path string) error {
	if reason := pathProblem(path + "1"); reason != "" {
		return fmt.Errorf("invalid sequential path %q: %s: %w", path, reason, proto.KeeperError(proto.ErrBadArguments))
	}
	return nil
}

// pathProblem returns why path is invalid, or "" if it is valid.
func pathProblem(path string) string {
	switch {
	case path == "":
		return "path length must be > 0"
	case path[0] != '/':
		return "path must start with / character"
	case len(path) == 1:
		return ""
	case path[len(path)-1] == '/':
		return "path must not end with / character"
	}
	// Every rule below rejects the path, so unlike Java's loop this one
	// need not stop at the first problem to give the same verdict.
	prev := '/'
	for i, r := range path[1:] {
		i++ // index in path
		switch {
		case r == 0:
			return fmt.Sprintf("null character not allowed @%d", i)
		case r == utf8.RuneError && !strings.HasPrefix(path[i:], "\uFFFD"):
			return fmt.Sprintf("not UTF-8 @%d", i)
		case r == '/' && prev == '/':
			return fmt.Sprintf("empty node name specified @%d", i)
		case r == '.' && prev == '/' && segmentEnds(path, i+1):
			return fmt.Sprintf("relative paths not allowed @%d", i)
		case r == '.' && prev == '.' && path[i-2] == '/' && segmentEnds(path, i+1):
			return fmt.Sprintf("relative paths not allowed @%d", i)
		case r > 0 && r <= 0x1f, r >= 0x7f && r <= 0x9f, r >= 0xd800 && r <= 0xf8ff, r >= 0xfff0:
			return fmt.Sprintf("invalid character @%d", i)
		}
		prev = r
	}
	return ""
}

// segmentEnds reports whether a path segment ends at byte i.
func segmentEnds(path string, i int) bool {
	return i == len(path) || path[i] == '/'
}

// parentOf returns the part of path before its last '/', as ZooKeeper's
// path.substring(0, lastSlash): "" for children of the root. ok is false
// when path has no '/' or contains NUL, which ZooKeeper answers with
// BADARGUMENTS before it looks anything up.
func parentOf(path string) (parent string, ok bool) {
	i := strings.LastIndexByte(path, '/')
	if i < 0 || strings.IndexByte(path, 0) >= 0 {
		return "", false
	}
	return path[:i], true
}
