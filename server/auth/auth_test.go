package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zkd-io/zkd/server/proto"
)

func isCode(err error, code proto.Code) bool {
	var ke proto.KeeperError
	return errors.As(err, &ke) && ke.Code() == code
}

// From ZooKeeper's documentation: the digest of super:admin.
const superAdmin = "super:xQJmxLMiHGwaqBvst5y6rkB6HQs="

func mustDigest(t *testing.T, userPass string) proto.ID {
	t.Helper()
	id, err := DigestID(userPass)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestDigestID(t *testing.T) {
	id := mustDigest(t, "super:admin")
	if id != (proto.ID{Scheme: "digest", ID: superAdmin}) {
		t.Errorf("DigestID(super:admin) = %v, want digest:%s", id, superAdmin)
	}
	if _, err := DigestID("nocolon"); err == nil {
		t.Error("DigestID without a colon succeeded")
	}
}

func TestAddAuth(t *testing.T) {
	user := mustDigest(t, "user:pw")
	other := mustDigest(t, "other:pw")
	superDigestID := mustDigest(t, "super:admin")
	tests := []struct {
		name      string
		packets   [][2]string // scheme, data
		super     string
		wantErr   []bool
		wantIDs   []proto.ID
		wantSuper bool
	}{
		{"digest", [][2]string{{"digest", "user:pw"}}, "", []bool{false}, []proto.ID{user}, false},
		{"digest twice is one id", [][2]string{{"digest", "user:pw"}, {"digest", "user:pw"}}, "", []bool{false, false}, []proto.ID{user}, false},
		{"two users", [][2]string{{"digest", "user:pw"}, {"digest", "other:pw"}}, "", []bool{false, false}, []proto.ID{user, other}, false},
		{"wrong password is another id", [][2]string{{"digest", "user:bad"}}, "", []bool{false}, []proto.ID{mustDigest(t, "user:bad")}, false},
		{"super", [][2]string{{"digest", "super:admin"}}, superAdmin, []bool{false}, []proto.ID{superID, superDigestID}, true},
		{"super digest not configured", [][2]string{{"digest", "super:admin"}}, "", []bool{false}, []proto.ID{superDigestID}, false},
		{"wrong super password", [][2]string{{"digest", "super:x"}}, superAdmin, []bool{false}, []proto.ID{mustDigest(t, "super:x")}, false},
		{"ip is accepted and changes nothing", [][2]string{{"ip", "whatever"}}, "", []bool{false}, nil, false},
		{"sasl has no provider", [][2]string{{"sasl", "x"}}, "", []bool{true}, nil, false},
		{"x509 has no provider", [][2]string{{"x509", ""}}, "", []bool{true}, nil, false},
		{"world is not a provider", [][2]string{{"world", "anyone"}}, "", []bool{true}, nil, false},
		{"super is not a provider", [][2]string{{"super", "admin"}}, superAdmin, []bool{true}, nil, false},
		{"failure keeps earlier ids", [][2]string{{"digest", "user:pw"}, {"bogus", ""}}, "", []bool{false, true}, []proto.ID{user}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := &Identity{RemoteIP: "10.0.0.1"}
			for i, p := range tt.packets {
				err := id.AddAuth(p[0], []byte(p[1]), tt.super)
				if (err != nil) != tt.wantErr[i] {
					t.Fatalf("AddAuth(%s, %q) error = %v, want error %v", p[0], p[1], err, tt.wantErr[i])
				}
				if err != nil && !isCode(err, proto.ErrAuthFailed) {
					t.Errorf("AddAuth(%s) error %v does not carry AUTHFAILED", p[0], err)
				}
			}
			if formatIDs(id.IDs) != formatIDs(tt.wantIDs) {
				t.Errorf("IDs = %v, want %v", id.IDs, tt.wantIDs)
			}
			if id.Super != tt.wantSuper {
				t.Errorf("Super = %v, want %v", id.Super, tt.wantSuper)
			}
		})
	}
}

func TestCheckACL(t *testing.T) {
	alice := mustDigest(t, "alice:secret")
	bob := mustDigest(t, "bob:secret")
	acl := func(perms int32, scheme, id string) proto.ACL {
		return proto.ACL{Perms: perms, ID: proto.ID{Scheme: scheme, ID: id}}
	}
	const r, w, c, d, a = proto.PermRead, proto.PermWrite, proto.PermCreate, proto.PermDelete, proto.PermAdmin
	aliceOnly := []proto.ACL{acl(proto.PermAll, "digest", alice.ID)}
	anonymous := &Identity{RemoteIP: "192.168.1.20"}
	asAlice := &Identity{RemoteIP: "192.168.1.20", IDs: []proto.ID{alice}}
	asBob := &Identity{RemoteIP: "192.168.1.20", IDs: []proto.ID{bob}}
	tests := []struct {
		name string
		acl  []proto.ACL
		perm int32
		id   *Identity
		want bool
	}{
		{"empty ACL allows all", nil, a, nil, true},
		{"world read allows read", proto.ReadACLUnsafe, r, nil, true},
		{"world read denies write", proto.ReadACLUnsafe, w, anonymous, false},
		{"open ACL", proto.OpenACLUnsafe, d, anonymous, true},
		{"any requested bit suffices", proto.ReadACLUnsafe, r | a, anonymous, true},
		{"digest match", aliceOnly, w, asAlice, true},
		{"digest mismatch", aliceOnly, w, asBob, false},
		{"digest without auth", aliceOnly, r, anonymous, false},
		{"digest perms exclude", []proto.ACL{acl(r|w, "digest", alice.ID)}, c, asAlice, false},
		{"second entry matches", []proto.ACL{acl(r, "world", "anyone"), acl(c, "digest", bob.ID)}, c, asBob, true},
		{"super flag", aliceOnly, a, &Identity{Super: true}, true},
		{"super id", aliceOnly, a, &Identity{IDs: []proto.ID{superID}}, true},
		{"super passes a zero-perm ACL", []proto.ACL{acl(0, "world", "anyone")}, r, &Identity{Super: true}, true},
		{"zero perms deny", []proto.ACL{acl(0, "world", "anyone")}, r, anonymous, false},
		{"world other id never matches", []proto.ACL{acl(r, "world", "everyone")}, r, anonymous, false},
		{"ip exact", []proto.ACL{acl(r, "ip", "192.168.1.20")}, r, anonymous, true},
		{"ip prefix", []proto.ACL{acl(r, "ip", "192.168.0.0/16")}, r, anonymous, true},
		{"ip outside prefix", []proto.ACL{acl(r, "ip", "192.168.2.0/24")}, r, anonymous, false},
		{"ip mapped v4 client", []proto.ACL{acl(r, "ip", "10.0.0.0/8")}, r, &Identity{RemoteIP: "::ffff:10.1.2.3"}, true},
		{"ip v6 client never matches", []proto.ACL{acl(r, "ip", "0.0.0.0/0")}, r, &Identity{RemoteIP: "::1"}, false},
		{"ip without address", []proto.ACL{acl(r, "ip", "0.0.0.0/0")}, r, &Identity{}, false},
		{"scheme must agree", []proto.ACL{acl(r, "ip", "1.2.3.4")}, r, &Identity{IDs: []proto.ID{{Scheme: "digest", ID: "1.2.3.4"}}}, false},
		{"no provider for sasl", []proto.ACL{acl(r, "sasl", "bob")}, r, &Identity{IDs: []proto.ID{{Scheme: "sasl", ID: "bob"}}}, false},
		{"auth entry is not a match rule", []proto.ACL{acl(r, "auth", "")}, r, asAlice, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckACL(tt.acl, tt.perm, tt.id); got != tt.want {
				t.Errorf("CheckACL(%v, %d) = %v, want %v", tt.acl, tt.perm, got, tt.want)
			}
		})
	}
}

func TestFixupACLErrorsNameTheEntry(t *testing.T) {
	_, err := FixupACL([]proto.ACL{{Perms: 1, ID: proto.IDAnyoneUnsafe}, {Perms: 1, ID: proto.ID{Scheme: "ip", ID: "::1"}}}, nil)
	if !isCode(err, proto.ErrInvalidACL) || !strings.Contains(err.Error(), "ACL entry 1 (ip:::1)") {
		t.Errorf("error %v does not name entry 1 and INVALIDACL", err)
	}
}

func TestFixupACLNormalizesLikeJava(t *testing.T) {
	got, err := FixupACL([]proto.ACL{
		{Perms: 31, ID: proto.ID{Scheme: "digest", ID: "us\xffer:hash"}},
		{Perms: 31, ID: proto.ID{Scheme: "digest", ID: "us\xfeer:hash"}}, // same id once decoded
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []proto.ACL{{Perms: 31, ID: proto.ID{Scheme: "digest", ID: "us\uFFFDer:hash"}}}
	if formatACL(got) != formatACL(want) {
		t.Errorf("FixupACL = %v, want %v (Java decodes, then removes the duplicate)", got, want)
	}
}

func TestFixupACLAuthWithSuperFlagOnly(t *testing.T) {
	// The server's own requests carry Super without ids: "auth" has nothing
	// authenticated to expand to, exactly like an anonymous session.
	if _, err := FixupACL([]proto.ACL{{Perms: 31, ID: proto.IDAuth}}, &Identity{Super: true}); !isCode(err, proto.ErrInvalidACL) {
		t.Errorf("FixupACL(auth) for a bare super identity: %v, want INVALIDACL", err)
	}
}

func TestWhoAmI(t *testing.T) {
	id := &Identity{RemoteIP: "127.0.0.1"}
	if err := id.AddAuth("digest", []byte("super:admin"), superAdmin); err != nil {
		t.Fatal(err)
	}
	got := id.WhoAmI()
	want := map[proto.ClientInfo]bool{
		{AuthScheme: "ip", User: "127.0.0.1"}: true,
		{AuthScheme: "super", User: ""}:       true,
		{AuthScheme: "digest", User: "super"}: true,
	}
	if len(got) != len(want) {
		t.Fatalf("WhoAmI = %v, want the entries %v", got, want)
	}
	for _, ci := range got {
		if !want[ci] {
			t.Errorf("unexpected whoAmI entry %v", ci)
		}
	}
	if got := (*Identity)(nil).WhoAmI(); len(got) != 0 {
		t.Errorf("nil identity WhoAmI = %v", got)
	}
}

func TestHostAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"::1", "0:0:0:0:0:0:0:1"},
		{"::ffff:10.1.2.3", "10.1.2.3"},
		{"2001:db8::ff00:42:8329", "2001:db8:0:0:0:ff00:42:8329"},
		{"fe80::1%eth0", "fe80:0:0:0:0:0:0:1%eth0"},
		{"10.0.0.1:2181", "10.0.0.1"},
		{"[::1]:2181", "0:0:0:0:0:0:0:1"},
		{"not an address", "not an address"},
	}
	for _, tt := range tests {
		if got := hostAddress(tt.in); got != tt.want {
			t.Errorf("hostAddress(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJavaParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int32
		ok   bool
	}{
		{"0", 0, true}, {"08", 8, true}, {"+7", 7, true}, {"-0", 0, true}, {"-2147483648", -1 << 31, true},
		{"2147483647", 1<<31 - 1, true}, {"2147483648", 0, false}, {"", 0, false}, {"+", 0, false},
		{"-", 0, false}, {" 1", 0, false}, {"1a", 0, false}, {"\u0663\u0662", 32, true}, {"\uff15", 5, true},
		{"\U0001D7D8", 0, false}, // MATHEMATICAL DOUBLE-STRUCK DIGIT ZERO: two surrogates in Java
	}
	for _, tt := range tests {
		got, ok := javaParseInt(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("javaParseInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestJavaSplit(t *testing.T) {
	tests := []struct {
		in    string
		sep   byte
		limit int
		want  []string
	}{
		{"a:b", ':', 0, []string{"a", "b"}},
		{"a:b::", ':', 0, []string{"a", "b"}},
		{":", ':', 0, nil},
		{"", ':', 0, []string{""}},
		{"abc", ':', 0, []string{"abc"}},
		{"a:b:c", ':', 2, []string{"a", "b:c"}},
		{"1.2.", '.', -1, []string{"1", "2", ""}},
	}
	for _, tt := range tests {
		got := javaSplit(tt.in, tt.sep, tt.limit)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("javaSplit(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func TestCloneIsIndependent(t *testing.T) {
	orig := &Identity{RemoteIP: "1.2.3.4", IDs: []proto.ID{mustDigest(t, "a:b")}}
	c := orig.Clone()
	if err := c.AddAuth("digest", []byte("c:d"), ""); err != nil {
		t.Fatal(err)
	}
	if len(orig.IDs) != 1 || len(c.IDs) != 2 || c.RemoteIP != orig.RemoteIP {
		t.Errorf("clone shares state: orig %v, clone %v", orig.IDs, c.IDs)
	}
	if got := (*Identity)(nil).Clone(); got == nil || len(got.IDs) != 0 {
		t.Errorf("nil Clone = %v", got)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{}
	_ = m.AddAuth(id, "digest", []byte("u:p"), superAdmin)
	_ = m.AddAuth(id, "digest", []byte("super:admin"), superAdmin)
	_ = m.AddAuth(id, "ip", nil, superAdmin)
	if err := m.AddAuth(id, "kerberos-"+strings.Repeat("x", 10), nil, ""); !isCode(err, proto.ErrAuthFailed) {
		t.Errorf("unknown scheme error = %v", err)
	}
	for _, c := range []struct {
		scheme, result string
		want           float64
	}{{"digest", "ok", 1}, {"digest", "super", 1}, {"ip", "ok", 1}, {"other", "failed", 1}} {
		if got := testutil.ToFloat64(m.attempts.WithLabelValues(c.scheme, c.result)); got != c.want {
			t.Errorf("zkd_auth_attempts_total{scheme=%q,result=%q} = %v, want %v", c.scheme, c.result, got, c.want)
		}
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice succeeded")
	}
	var none *Metrics
	if err := none.AddAuth(id, "digest", []byte("x:y"), ""); err != nil || len(id.IDs) != 4 {
		t.Errorf("nil Metrics AddAuth: %v, ids %v", err, id.IDs)
	}
	if m, err := NewMetrics(nil); m != nil || err != nil {
		t.Errorf("NewMetrics(nil) = %v, %v", m, err)
	}
}

func BenchmarkCheckACL(b *testing.B) {
	id := &Identity{RemoteIP: "10.1.2.3", IDs: []proto.ID{{Scheme: "digest", ID: "bob:x"}}}
	acl := []proto.ACL{
		{Perms: proto.PermAdmin, ID: proto.IDAnyoneUnsafe},
		{Perms: proto.PermRead, ID: proto.ID{Scheme: "digest", ID: "alice:y"}},
		{Perms: proto.PermRead, ID: proto.ID{Scheme: "ip", ID: "10.0.0.0/8"}},
	}
	b.ReportAllocs()
	for b.Loop() {
		if !CheckACL(acl, proto.PermRead, id) {
			b.Fatal("denied")
		}
	}
}
