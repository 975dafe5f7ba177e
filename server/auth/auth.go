// Package auth is zkd's version of ZooKeeper 3.8's server-side
// authentication and ACL logic: the digest and ip authentication providers
// (DigestAuthenticationProvider, IPAuthenticationProvider), the super user,
// ZooKeeperServer.checkACL, PrepRequestProcessor.fixupACL and whoAmI.
//
// Only the providers a ZooKeeper 3.8 server registers by default exist:
// "digest" and "ip". Their quirks are kept on purpose, because ACLs written
// by one server are enforced by every other server of the ensemble, and
// clients read them back: an ip ACL is IPv4 only (3.8 cannot parse IPv6
// addresses, so such ACLs are invalid and never match), and ACL ids and
// digest passwords are decoded from UTF-8 the way Java decodes them.
package auth

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/zkd-io/zkd/server/proto"
)

// Schemes with special meaning in ACLs and identities.
const (
	SchemeDigest = "digest"
	SchemeIP     = "ip"
	SchemeWorld  = "world"
	SchemeAuth   = "auth"
	SchemeSuper  = "super"
)

// superID is the identity ZooKeeper adds for the super user: any session
// holding an id with scheme "super" passes every ACL check.
var superID = proto.ID{Scheme: SchemeSuper, ID: ""}

// Identity is a session's authentication state: what ZooKeeper keeps in
// ServerCnxn.authInfo. The zero value is an unauthenticated in-process
// caller. Identity is not safe for concurrent use; a connection that
// authenticates while requests are in flight should replace its Identity
// (AddAuth on a copy, see Clone) rather than change the one a request holds,
// just as ZooKeeper hands each request a snapshot of authInfo.
type Identity struct {
	// IDs are the identities proved with auth packets, in the order they
	// were added and without duplicates. A digest that matched the super
	// digest adds {super, ""} just before its own id, as ZooKeeper does.
	IDs []proto.ID
	// RemoteIP is the client's address (no port), which gives the session
	// its ip identity. Empty for in-process callers.
	RemoteIP string
	// Super marks the super user: every ACL check passes. AddAuth sets it
	// when a digest matches the super digest; the server sets it for its
	// own requests.
	Super bool
}

// Clone returns a deep copy of i, for copy-on-write updates.
func (i *Identity) Clone() *Identity {
	if i == nil {
		return &Identity{}
	}
	c := *i
	c.IDs = append([]proto.ID(nil), i.IDs...)
	return &c
}

// ipID returns the session's ip identity: the address as Java's
// InetAddress.getHostAddress prints it.
func (i *Identity) ipID() (proto.ID, bool) {
	if i == nil || i.RemoteIP == "" {
		return proto.ID{}, false
	}
	return proto.ID{Scheme: SchemeIP, ID: hostAddress(i.RemoteIP)}, true
}

// isSuper reports whether checkACL lets the session through everything.
func (i *Identity) isSuper() bool {
	if i == nil {
		return false
	}
	if i.Super {
		return true
	}
	for _, id := range i.IDs {
		if id.Scheme == SchemeSuper {
			return true
		}
	}
	return false
}

// AuthInfo returns all of the session's identities, the ip one included, in
// the order ZooKeeper iterates them (its concurrent hash set's order, which
// is neither insertion nor sorted order). That order decides how the "auth"
// ACL scheme expands and how whoAmI lists identities.
func (i *Identity) AuthInfo() []proto.ID {
	if i == nil {
		return nil
	}
	set := newCHMSet()
	// The connection adds its ip identity when it is accepted, before any
	// auth packet.
	if ip, ok := i.ipID(); ok {
		set.add(ip)
	}
	for _, id := range i.IDs {
		set.add(id)
	}
	if i.Super {
		set.add(superID)
	}
	return set.list()
}

func (i *Identity) add(id proto.ID) {
	for _, have := range i.IDs {
		if have == id {
			return
		}
	}
	i.IDs = append(i.IDs, id)
}

// AddAuth handles an auth packet (ZooKeeperServer.processPacket with
// OpCode.auth) for the scheme's provider:
//
//   - "digest" adds the id "user:base64(sha1(user:password))" computed from
//     auth, and first {super, ""} (and Super) when that id equals
//     superDigest. Like ZooKeeper it accepts any data, even without a colon.
//   - "ip" succeeds without changing anything: ZooKeeper's ip provider adds
//     the connection's own address, which the session already holds.
//   - any other scheme has no provider: the error wraps
//     proto.KeeperError(proto.ErrAuthFailed), which the server answers with
//     AUTHFAILED before closing the connection.
//
// superDigest is zookeeper.DigestAuthenticationProvider.superDigest
// ("super:<base64 sha1>"); empty disables the super user.
func (i *Identity) AddAuth(scheme string, auth []byte, superDigest string) error {
	switch scheme {
	case SchemeDigest:
		id := digestOf(javaDecode(string(auth)))
		if superDigest != "" && id.ID == superDigest {
			i.add(superID)
			i.Super = true
		}
		i.add(id)
		return nil
	case SchemeIP:
		return nil
	}
	return fmt.Errorf("auth packet for scheme %q: no authentication provider for it (have digest, ip): %w",
		scheme, proto.KeeperError(proto.ErrAuthFailed))
}

// WhoAmI returns the session's identities as the whoAmI reply lists them
// (AuthUtil.getClientInfos): every identity including the ip one, with the
// provider's user name: the address for ip, the part before the colon for
// digest, and "" for schemes without a provider such as super.
func (i *Identity) WhoAmI() []proto.ClientInfo {
	ids := i.AuthInfo()
	out := make([]proto.ClientInfo, 0, len(ids))
	for _, id := range ids {
		user := ""
		if p, ok := lookupProvider(id.Scheme); ok {
			user = p.userName(id.ID)
		}
		out = append(out, proto.ClientInfo{AuthScheme: id.Scheme, User: user})
	}
	return out
}

// DigestID returns the digest identity for "user:password":
// "user:" + base64(sha1("user:password")), the id a digest ACL names (what
// ZooKeeper's DigestAuthenticationProvider.generateDigest prints, and the
// form of the super digest). It refuses input without a colon, which is
// almost certainly a mistake in a configuration or tool; an auth packet
// without one is still accepted by AddAuth, as ZooKeeper accepts it.
func DigestID(userColonPassword string) (proto.ID, error) {
	if !strings.Contains(userColonPassword, ":") {
		return proto.ID{}, fmt.Errorf("digest credentials must be user:password, got no colon")
	}
	return digestOf(javaDecode(userColonPassword)), nil
}

// digestOf is DigestAuthenticationProvider.generateDigest for SHA1, the
// default algorithm.
func digestOf(idPassword string) proto.ID {
	user := idPassword
	if i := strings.IndexByte(idPassword, ':'); i >= 0 {
		user = idPassword[:i]
	}
	sum := sha1.Sum([]byte(idPassword))
	return proto.ID{Scheme: SchemeDigest, ID: user + ":" + base64.StdEncoding.EncodeToString(sum[:])}
}
