package auth

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zkd-io/zkd/server/proto"
)

// The *.golden files are written by testdata/GenGolden.java from the real
// ZooKeeper 3.8 classes and the JDK; see that file to regenerate them.

// readGolden returns the tab-separated fields of each non-comment line.
func readGolden(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no cases", name)
	}
	return rows
}

func unhex(t *testing.T, s string) string {
	t.Helper()
	if s == "-" {
		return ""
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return string(b)
}

func TestJavaDecodeGolden(t *testing.T) {
	for _, row := range readGolden(t, "decode.golden") {
		in, want := unhex(t, row[0]), unhex(t, row[1])
		if got := javaDecode(in); got != want {
			t.Errorf("javaDecode(%x) = %x, Java gives %x", in, got, want)
		}
	}
}

func TestDigestGolden(t *testing.T) {
	for _, row := range readGolden(t, "digest.golden") {
		data, want := unhex(t, row[0]), unhex(t, row[1])
		var id Identity
		if err := id.AddAuth(SchemeDigest, []byte(data), ""); err != nil {
			t.Fatalf("AddAuth(digest, %q): %v", data, err)
		}
		if len(id.IDs) != 1 || id.IDs[0] != (proto.ID{Scheme: SchemeDigest, ID: want}) {
			t.Errorf("AddAuth(digest, %q) ids = %v, ZooKeeper adds digest:%s", data, id.IDs, want)
		}
		if strings.Contains(data, ":") {
			got, err := DigestID(data)
			if err != nil || got.ID != want {
				t.Errorf("DigestID(%q) = %v, %v; want %s", data, got, err, want)
			}
		}
	}
}

func TestIPGolden(t *testing.T) {
	for _, row := range readGolden(t, "ip.golden") {
		switch row[0] {
		case "valid":
			expr := unhex(t, row[1])
			want, _ := strconv.ParseBool(row[2])
			if got := ipValid(expr); got != want {
				t.Errorf("ipValid(%q) = %v, ZooKeeper says %v", expr, got, want)
			}
		case "match":
			expr, addr := unhex(t, row[1]), row[2]
			want, _ := strconv.ParseBool(row[3])
			if got := ipMatches(addr, expr); got != want {
				t.Errorf("ipMatches(%q, %q) = %v, ZooKeeper says %v", addr, expr, got, want)
			}
		default:
			t.Fatalf("bad row %q", row)
		}
	}
}

func parseIDs(s string) []proto.ID {
	var out []proto.ID
	for _, f := range strings.Fields(s) {
		scheme, id, _ := strings.Cut(f, ":")
		out = append(out, proto.ID{Scheme: scheme, ID: id})
	}
	return out
}

func formatIDs(ids []proto.ID) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.Scheme + ":" + id.ID
	}
	return strings.Join(parts, " ")
}

// identityOf builds the Identity whose connection address is the leading ip
// id and whose auth ids are the rest.
func identityOf(t *testing.T, ids []proto.ID) *Identity {
	t.Helper()
	if len(ids) == 0 || ids[0].Scheme != SchemeIP {
		t.Fatalf("case must start with the connection's ip id: %v", ids)
	}
	remote := ids[0].ID
	if strings.Contains(remote, ":") {
		remote = "::1" // Java prints it uncompressed; hostAddress must too
	}
	return &Identity{RemoteIP: remote, IDs: ids[1:]}
}

func TestAuthInfoOrderGolden(t *testing.T) {
	for _, row := range readGolden(t, "authinfo.golden") {
		in, wantOrder, wantWho := parseIDs(row[0]), row[1], row[2]
		set := newCHMSet()
		for _, id := range in {
			set.add(id)
		}
		if got := formatIDs(set.list()); got != wantOrder {
			t.Errorf("set order for %s\n got %s\nwant %s", row[0], got, wantOrder)
		}
		if in[0].Scheme != SchemeIP {
			continue
		}
		id := identityOf(t, in)
		if got := formatIDs(id.AuthInfo()); got != wantOrder {
			t.Errorf("AuthInfo for %s\n got %s\nwant %s", row[0], got, wantOrder)
		}
		var who []string
		for _, ci := range id.WhoAmI() {
			who = append(who, ci.AuthScheme+"="+ci.User)
		}
		if got := strings.Join(who, " "); got != wantWho {
			t.Errorf("WhoAmI for %s\n got %s\nwant %s", row[0], got, wantWho)
		}
	}
}

func parseACL(t *testing.T, s string) []proto.ACL {
	t.Helper()
	var out []proto.ACL
	for _, e := range strings.Fields(s) {
		p := strings.Split(e, "|")
		perms, err := strconv.Atoi(p[0])
		if err != nil || len(p) != 3 {
			t.Fatalf("bad ACL entry %q", e)
		}
		out = append(out, proto.ACL{Perms: int32(perms), ID: proto.ID{Scheme: p[1], ID: p[2]}})
	}
	return out
}

func formatACL(acl []proto.ACL) string {
	parts := make([]string, len(acl))
	for i, a := range acl {
		parts[i] = strconv.Itoa(int(a.Perms)) + "|" + a.ID.Scheme + "|" + a.ID.ID
	}
	return strings.Join(parts, " ")
}

func TestFixupACLGolden(t *testing.T) {
	for _, row := range readGolden(t, "fixup.golden") {
		id := identityOf(t, parseIDs(row[0]))
		acl := parseACL(t, row[1])
		got, err := FixupACL(acl, id)
		if row[2] == "INVALIDACL" {
			if !isCode(err, proto.ErrInvalidACL) {
				t.Errorf("FixupACL(%s) for %s = %v, %v; ZooKeeper says INVALIDACL", row[1], row[0], got, err)
			}
			continue
		}
		if err != nil || formatACL(got) != row[2] {
			t.Errorf("FixupACL(%s) for %s = %q, %v; ZooKeeper gives %q", row[1], row[0], formatACL(got), err, row[2])
		}
	}
}
