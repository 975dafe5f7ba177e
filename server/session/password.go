package session

import "crypto/subtle"

// PasswordLen is the length in bytes of a session password.
const PasswordLen = 16

// superSecret is ZooKeeperServer.superSecret. It is not secret at all (it is in
// the public source), but every ZooKeeper server uses it, so a client that
// reconnects to zkd with a password issued by Apache ZooKeeper (or the other
// way round during a rolling migration) is only accepted if zkd derives the
// password the same way.
const superSecret = 0xB3415C00

// Password returns the password that ZooKeeper hands out with session
// sessionID: 16 bytes of java.util.Random seeded with sessionID ^ superSecret
// (ZooKeeperServer.generatePasswd). The password is a pure function of the
// session id, so any server can check it without shared state.
func Password(sessionID int64) []byte {
	p := make([]byte, PasswordLen)
	newJavaRandom(sessionID ^ superSecret).nextBytes(p)
	return p
}

// CheckPassword reports whether passwd is the password of session sessionID.
// Session id 0 means "no session" on the wire and never matches, as in
// ZooKeeperServer.checkPasswd. The comparison is constant-time, which
// ZooKeeper's is not; the result is the same.
func CheckPassword(sessionID int64, passwd []byte) bool {
	return sessionID != 0 && subtle.ConstantTimeCompare(passwd, Password(sessionID)) == 1
}

// java.util.Random's linear congruential generator, as specified in its
// Javadoc. Only what generatePasswd needs is reproduced.
const (
	lcgMultiplier = 0x5DEECE66D
	lcgAddend     = 0xB
	lcgMask       = 1<<48 - 1
)

type javaRandom struct {
	seed uint64 // only the low 48 bits are used
}

// newJavaRandom mirrors new java.util.Random(seed), including the initial
// scramble of the seed with the multiplier.
func newJavaRandom(seed int64) *javaRandom {
	return &javaRandom{seed: (uint64(seed) ^ lcgMultiplier) & lcgMask}
}

// next mirrors Random.next(bits): advance the generator and return its top
// bits bits as a Java int. Arithmetic modulo 2^64 followed by the mask equals
// Java's arithmetic modulo 2^64 followed by the same mask.
func (r *javaRandom) next(bits uint) int32 {
	r.seed = (r.seed*lcgMultiplier + lcgAddend) & lcgMask
	return int32(r.seed >> (48 - bits))
}

func (r *javaRandom) nextInt() int32 { return r.next(32) }

// nextBytes mirrors Random.nextBytes: each nextInt fills up to four bytes,
// least significant byte first.
func (r *javaRandom) nextBytes(b []byte) {
	for i := 0; i < len(b); {
		rnd := r.nextInt()
		for n := min(len(b)-i, 4); n > 0; n-- {
			b[i] = byte(rnd)
			i++
			rnd >>= 8
		}
	}
}
