package auth

import (
	"net/netip"
	"strconv"
	"strings"
)

// ipValid is IPAuthenticationProvider.isValid: "a.b.c.d" or "a.b.c.d/bits"
// with bits in 0..32. ZooKeeper 3.8 parses IPv4 only, so IPv6 ACLs are
// invalid (IPv6 support arrived after 3.8).
func ipValid(aclExpr string) bool {
	_, _, ok := parseIPACL(aclExpr)
	return ok
}

// ipMatches is IPAuthenticationProvider.matches: whether the session address
// id lies in the prefix aclExpr. Both must be IPv4 in Java's dotted form; an
// IPv6 client matches no ip ACL.
func ipMatches(id, aclExpr string) bool {
	acl, bits, ok := parseIPACL(aclExpr)
	if !ok {
		return false
	}
	addr, ok := v4Bytes(id)
	if !ok {
		return false
	}
	mask(&acl, bits)
	mask(&addr, bits)
	return acl == addr
}

// parseIPACL splits "a.b.c.d[/bits]" as IPAuthenticationProvider does
// (split("/", 2)): bits default to 32 and must parse with Integer.parseInt
// into 0..32. It does not allocate: CheckACL runs for every read.
func parseIPACL(aclExpr string) (addr [4]byte, bits int, ok bool) {
	host, bitsText, hasBits := strings.Cut(aclExpr, "/")
	addr, ok = v4Bytes(host)
	if !ok {
		return addr, 0, false
	}
	bits = 32
	if hasBits {
		v, ok := javaParseInt(bitsText)
		if !ok || v < 0 || v > 32 {
			return addr, 0, false
		}
		bits = int(v)
	}
	return addr, bits, true
}

// v4Bytes is IPAuthenticationProvider.v4addr2Bytes: exactly four
// dot-separated Integer.parseInt numbers in 0..255 (split("\\.", -1)), so
// "010.1.1.1" is 10.1.1.1 and "+1.2.3.4" is accepted, as in Java.
func v4Bytes(addr string) ([4]byte, bool) {
	var b [4]byte
	if strings.Count(addr, ".") != 3 {
		return b, false
	}
	for i := range b {
		part, rest, _ := strings.Cut(addr, ".")
		v, ok := javaParseInt(part)
		if !ok || v < 0 || v > 255 {
			return b, false
		}
		b[i] = byte(v)
		addr = rest
	}
	return b, true
}

// mask keeps the first bits bits of b.
func mask(b *[4]byte, bits int) {
	for i := range b {
		switch {
		case bits >= 8:
			bits -= 8
		case bits <= 0:
			b[i] = 0
		default:
			b[i] &= ^byte(0xff >> bits)
			bits = 0
		}
	}
}

// hostAddress renders a client address as Java's
// InetAddress.getHostAddress does, which is the id of the session's ip
// identity: dotted quad for IPv4 (and IPv4-mapped IPv6, which Java turns
// into IPv4), and for IPv6 eight uncompressed lower-case hex groups with the
// zone appended after '%'. A port, if present, is dropped. Text that is not
// an address is returned unchanged.
func hostAddress(remote string) string {
	addr, err := netip.ParseAddr(remote)
	if err == nil && addr.Is4() {
		return remote // ParseAddr accepts only the canonical dotted quad
	}
	if err != nil {
		ap, err := netip.ParseAddrPort(remote)
		if err != nil {
			return remote
		}
		addr = ap.Addr()
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	b := addr.As16()
	var sb strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(strconv.FormatUint(uint64(b[i])<<8|uint64(b[i+1]), 16))
	}
	if z := addr.Zone(); z != "" {
		sb.WriteByte('%')
		sb.WriteString(z)
	}
	return sb.String()
}
