package console

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Role is what a console user may do. Roles are ordered: each includes the
// ones before it.
type Role int

// Roles. RoleNone is an anonymous caller when users are configured: it
// sees nothing.
const (
	RoleNone   Role = iota
	RoleViewer      // browse the tree, health, explorer, audit
	RoleEditor      // create, set data, delete
	RoleAdmin       // edit ACLs, see digest ACL hashes
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleEditor:
		return "editor"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// ParseRole parses viewer, editor or admin.
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer":
		return RoleViewer, nil
	case "editor":
		return RoleEditor, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("%q is not a role (viewer, editor, admin)", s)
}

// User is a configured console user; Hash is a bcrypt hash of the password.
type User struct {
	Name string
	Role Role
	Hash []byte
}

// Token is a configured bearer token; only its SHA-256 is kept, so the
// configuration never holds the token itself.
type Token struct {
	Name   string
	Role   Role
	SHA256 [sha256.Size]byte
}

// Settings are the console's zoo.cfg keys (zkd.console.*, prefix removed).
//
//	enabled=false                      no console routes at all (default true)
//	user.<name>=<role>:<bcrypt hash>   a user (zkd hash-password prints the hash)
//	token.<name>=<role>:sha256:<hex>   a bearer token, by its SHA-256
//	anonymousRole=viewer|editor|admin  what callers get when no user or token
//	                                   is configured (default viewer: read-only)
//	zkAuth=digest:user:password        ZooKeeper auth of the console's own session
//	peer.<N>=http://host:port          HTTP address of server N (health page)
type Settings struct {
	Enabled       bool
	Users         map[string]User
	Tokens        []Token
	AnonymousRole Role
	ZKAuthScheme  string
	ZKAuth        []byte
	Peers         map[int64]string
}

// AuthRequired reports whether callers must log in: any user or token is
// configured.
func (s *Settings) AuthRequired() bool { return len(s.Users) > 0 || len(s.Tokens) > 0 }

// ParseSettings reads the zkd.console.* keys. Every bad value is an error
// naming the key, so a typo in a password hash cannot silently open the
// console.
func ParseSettings(kv map[string]string) (Settings, error) {
	s := Settings{Enabled: true, Users: map[string]User{}, AnonymousRole: RoleViewer, Peers: map[int64]string{}}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.TrimSpace(kv[k])
		if err := s.set(k, v); err != nil {
			return Settings{}, fmt.Errorf("zkd.console.%s: %w", k, err)
		}
	}
	return s, nil
}

func (s *Settings) set(k, v string) error {
	switch {
	case k == "enabled":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		s.Enabled = b
	case k == "anonymousRole":
		r, err := ParseRole(v)
		if err != nil {
			return err
		}
		s.AnonymousRole = r
	case k == "zkAuth":
		scheme, auth, ok := strings.Cut(v, ":")
		if !ok || scheme == "" || auth == "" {
			return fmt.Errorf("want scheme:auth, e.g. digest:user:password")
		}
		s.ZKAuthScheme, s.ZKAuth = scheme, []byte(auth)
	case strings.HasPrefix(k, "user."):
		name := strings.TrimPrefix(k, "user.")
		role, hash, ok := strings.Cut(v, ":")
		if name == "" || !ok {
			return fmt.Errorf("want user.<name>=<role>:<bcrypt hash>")
		}
		r, err := ParseRole(role)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(hash, "$2") {
			return fmt.Errorf("the password must be a bcrypt hash ($2a$...); make one with `zkd hash-password`")
		}
		s.Users[name] = User{Name: name, Role: r, Hash: []byte(hash)}
	case strings.HasPrefix(k, "token."):
		name := strings.TrimPrefix(k, "token.")
		parts := strings.SplitN(v, ":", 3)
		if name == "" || len(parts) != 3 || parts[1] != "sha256" {
			return fmt.Errorf("want token.<name>=<role>:sha256:<hex of the token's SHA-256>")
		}
		r, err := ParseRole(parts[0])
		if err != nil {
			return err
		}
		b, err := hex.DecodeString(parts[2])
		if err != nil || len(b) != sha256.Size {
			return fmt.Errorf("the SHA-256 must be 64 hex digits")
		}
		t := Token{Name: name, Role: r}
		copy(t.SHA256[:], b)
		s.Tokens = append(s.Tokens, t)
	case strings.HasPrefix(k, "peer."):
		id, err := strconv.ParseInt(strings.TrimPrefix(k, "peer."), 10, 64)
		if err != nil {
			return fmt.Errorf("want peer.<server id>")
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("%q is not an http(s) URL with a host", v)
		}
		s.Peers[id] = strings.TrimSuffix(v, "/")
	default:
		return fmt.Errorf("unknown console setting")
	}
	return nil
}

// HashToken returns the config form of a bearer token's hash.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(h[:])
}
