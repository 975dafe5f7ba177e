package auth

import (
	"fmt"

	"github.com/zkd-io/zkd/server/proto"
)

// provider is the part of a ZooKeeper AuthenticationProvider that ACLs use.
type provider struct {
	// authenticated is isAuthenticated: whether the "auth" ACL scheme may
	// expand to identities of this scheme. ip identities are not
	// authenticated (every client has one), digest ones are.
	authenticated bool
	// valid is isValid: whether an ACL id of this scheme is well formed.
	valid func(id string) bool
	// matches is matches(id, aclExpr): whether a session identity
	// satisfies an ACL id.
	matches func(id, aclExpr string) bool
	// userName is getUserName, for whoAmI.
	userName func(id string) string
}

// lookupProvider returns the provider ZooKeeper 3.8 registers by default for
// scheme: digest and ip. "world", "auth" and "super" are not providers.
func lookupProvider(scheme string) (provider, bool) {
	switch scheme {
	case SchemeDigest:
		return provider{
			authenticated: true,
			valid:         func(id string) bool { return len(javaSplit(id, ':', 0)) == 2 },
			matches:       func(id, aclExpr string) bool { return id == aclExpr },
			userName: func(id string) string {
				if parts := javaSplit(id, ':', 0); len(parts) > 0 {
					return parts[0]
				}
				return ""
			},
		}, true
	case SchemeIP:
		return provider{
			authenticated: false,
			valid:         ipValid,
			matches:       ipMatches,
			userName:      func(id string) string { return id },
		}, true
	}
	return provider{}, false
}

// CheckACL is ZooKeeperServer.checkACL: whether id may use perm (any of the
// bits in perm) on a node with acl. An empty ACL allows everything, the
// super user passes every check, world:anyone matches everybody, and other
// entries match when one of the session's identities of the same scheme
// satisfies the entry per its provider (digest: equal ids; ip: address
// within the entry's IPv4 prefix). Entries of schemes without a provider
// never match. A nil id has no identities.
func CheckACL(acl []proto.ACL, perm int32, id *Identity) bool {
	if len(acl) == 0 || id.isSuper() {
		return true
	}
	// The server calls this for every read, so it allocates nothing and
	// renders the session's address only if an ip entry needs it.
	var (
		ip     proto.ID
		haveIP bool
		ipDone bool
	)
	for _, a := range acl {
		if a.Perms&perm == 0 {
			continue
		}
		if a.ID.Scheme == SchemeWorld && a.ID.ID == "anyone" {
			return true
		}
		p, ok := lookupProvider(a.ID.Scheme)
		if !ok || id == nil {
			continue
		}
		if a.ID.Scheme == SchemeIP {
			if !ipDone {
				ip, haveIP = id.ipID()
				ipDone = true
			}
			if haveIP && p.matches(ip.ID, a.ID.ID) {
				return true
			}
		}
		for _, have := range id.IDs {
			if have.Scheme == a.ID.Scheme && p.matches(have.ID, a.ID.ID) {
				return true
			}
		}
	}
	return false
}

// FixupACL is PrepRequestProcessor.fixupACL, applied to the ACL of a create
// or setACL: it drops exact duplicates (keeping the first), expands each
// "auth" entry into one entry per authenticated identity of the session
// (digest ones; not ip, not super) with the entry's perms, keeps
// world:anyone, and keeps other entries only if their scheme has a provider
// that finds the id valid (digest "user:hash"; ip "a.b.c.d" or
// "a.b.c.d/bits"). Perms are not checked, as in ZooKeeper.
//
// An empty ACL, an "auth" entry for a session with no authenticated
// identity, or an invalid entry is an error wrapping
// proto.KeeperError(proto.ErrInvalidACL).
//
// Scheme and id strings come back as Java would have decoded them from the
// wire (see javaDecode), since that is what ZooKeeper stores.
func FixupACL(acl []proto.ACL, id *Identity) ([]proto.ACL, error) {
	uniq := make([]proto.ACL, 0, len(acl))
	for _, a := range acl {
		a.ID.Scheme = javaDecode(a.ID.Scheme)
		a.ID.ID = javaDecode(a.ID.ID)
		dup := false
		for _, u := range uniq {
			if u == a {
				dup = true
				break
			}
		}
		if !dup {
			uniq = append(uniq, a)
		}
	}
	if len(uniq) == 0 {
		return nil, fmt.Errorf("empty ACL: %w", proto.KeeperError(proto.ErrInvalidACL))
	}
	out := make([]proto.ACL, 0, len(uniq))
	var authInfo []proto.ID // computed on the first "auth" entry
	for i, a := range uniq {
		switch {
		case a.ID.Scheme == SchemeWorld && a.ID.ID == "anyone":
			out = append(out, a)
		case a.ID.Scheme == SchemeAuth:
			if authInfo == nil {
				authInfo = id.AuthInfo()
			}
			expanded := false
			for _, have := range authInfo {
				if p, ok := lookupProvider(have.Scheme); ok && p.authenticated {
					out = append(out, proto.ACL{Perms: a.Perms, ID: have})
					expanded = true
				}
			}
			if !expanded {
				return nil, fmt.Errorf("ACL entry %d (auth): the session has no authenticated identity to expand it to: %w",
					i, proto.KeeperError(proto.ErrInvalidACL))
			}
		default:
			p, ok := lookupProvider(a.ID.Scheme)
			if !ok {
				why := "no authentication provider for the scheme (have digest, ip)"
				if a.ID.Scheme == SchemeWorld {
					why = "the world scheme has only the id anyone"
				}
				return nil, fmt.Errorf("ACL entry %d (%s:%s): %s: %w",
					i, a.ID.Scheme, a.ID.ID, why, proto.KeeperError(proto.ErrInvalidACL))
			}
			if !p.valid(a.ID.ID) {
				return nil, fmt.Errorf("ACL entry %d (%s:%s): malformed id for the scheme: %w",
					i, a.ID.Scheme, a.ID.ID, proto.KeeperError(proto.ErrInvalidACL))
			}
			out = append(out, a)
		}
	}
	return out, nil
}
