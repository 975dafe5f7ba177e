package session

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"
)

// readGolden returns the whitespace-separated fields of each non-comment line
// of a file in testdata. The golden files are written by testdata/GenGolden.java
// from the JDK itself.
func readGolden(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatalf("open golden file: %v", err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rows = append(rows, strings.Fields(line))
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no vectors", name)
	}
	return rows
}

func parseHexID(t *testing.T, s string) int64 {
	t.Helper()
	u, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatalf("bad session id %q in golden file: %v", s, err)
	}
	return int64(u)
}

func TestPasswordGolden(t *testing.T) {
	for _, row := range readGolden(t, "passwords.golden") {
		if len(row) != 2 {
			t.Fatalf("malformed golden row %q", row)
		}
		id := parseHexID(t, row[0])
		want, err := hex.DecodeString(row[1])
		if err != nil {
			t.Fatalf("bad password %q in golden file: %v", row[1], err)
		}
		t.Run(row[0], func(t *testing.T) {
			got := Password(id)
			if !bytes.Equal(got, want) {
				t.Errorf("Password(%s) = %x, want %x", hexID(id), got, want)
			}
			if id != 0 && !CheckPassword(id, want) {
				t.Errorf("CheckPassword(%s, golden) = false, want true", hexID(id))
			}
		})
	}
}

// TestJavaRandomKnownValues pins the generator to values of java.util.Random
// that are widely published, independently of the golden file.
func TestJavaRandomKnownValues(t *testing.T) {
	tests := []struct {
		seed int64
		want int32
	}{
		{0, -1155484576},  // new Random(0).nextInt()
		{42, -1170105035}, // new Random(42).nextInt()
	}
	for _, tt := range tests {
		if got := newJavaRandom(tt.seed).nextInt(); got != tt.want {
			t.Errorf("new Random(%d).nextInt() = %d, want %d", tt.seed, got, tt.want)
		}
	}
}

// TestPasswordDerivation recomputes the password of a few ids from the
// Random specification with arbitrary-precision arithmetic, so an error in
// the fixed-width implementation (a wrong mask, a signed shift) cannot hide.
func TestPasswordDerivation(t *testing.T) {
	mult := big.NewInt(0x5DEECE66D)
	mod := new(big.Int).Lsh(big.NewInt(1), 48)
	for _, id := range []int64{1, -1, 0x100000123456789, -0x7fff_f5f4_f3f3_0000} {
		// seed = (id ^ 0xB3415C00 ^ 0x5DEECE66D) mod 2^48, taking id as unsigned.
		x := new(big.Int).SetUint64(uint64(id) ^ 0xB3415C00)
		seed := new(big.Int).Xor(x, mult)
		seed.Mod(seed, mod)
		var want []byte
		for range 4 {
			seed.Mul(seed, mult).Add(seed, big.NewInt(0xB)).Mod(seed, mod)
			word := new(big.Int).Rsh(seed, 16).Uint64() // 32 bits
			want = binary.LittleEndian.AppendUint32(want, uint32(word))
		}
		if got := Password(id); !bytes.Equal(got, want) {
			t.Errorf("Password(%s) = %x, derived %x", hexID(id), got, want)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	const id = 0x100000123456789
	good := Password(id)
	flipped := bytes.Clone(good)
	flipped[15] ^= 1
	tests := []struct {
		name   string
		id     int64
		passwd []byte
		want   bool
	}{
		{"match", id, good, true},
		{"one bit off", id, flipped, false},
		{"other session", id + 1, good, false},
		{"short", id, good[:15], false},
		{"empty", id, nil, false},
		{"id zero never matches", 0, Password(0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckPassword(tt.id, tt.passwd); got != tt.want {
				t.Errorf("CheckPassword(%s, %x) = %v, want %v", hexID(tt.id), tt.passwd, got, tt.want)
			}
		})
	}
}

func TestNextBytesConsumesWholeWords(t *testing.T) {
	// Random.nextBytes draws a whole nextInt even for a tail shorter than four
	// bytes, so after filling 6 bytes the generator has advanced twice.
	r := newJavaRandom(7)
	r.nextBytes(make([]byte, 6))
	ref := newJavaRandom(7)
	ref.nextInt()
	ref.nextInt()
	if got, want := r.nextInt(), ref.nextInt(); got != want {
		t.Errorf("nextInt after a 6-byte fill = %d, want the third nextInt %d", got, want)
	}
}
