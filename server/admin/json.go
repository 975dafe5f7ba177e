package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/zkd-io/zkd/server/javalang"
)

// The AdminServer writes its responses with Jackson's default pretty
// printer: `"key" : value`, two spaces of indentation per enclosing
// object, arrays on one line (`[ 1, 2 ]`, `[ ]`), empty objects as `{ }`,
// and Java's spelling of doubles (0.0, 4.6667, 1.0E7). zkd reproduces
// the exact bytes, in ZooKeeper's key order, so that a diff between the
// two servers shows only real differences. encoding/json cannot do
// either (it sorts map keys and writes `"key": value`), hence this
// small writer.

// object is a JSON object whose keys keep their insertion order, as the
// LinkedHashMap ZooKeeper builds its responses in.
type object []field

type field struct {
	key   string
	value any
}

// put appends key, or replaces its value where it already is.
func (o *object) put(key string, value any) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].value = value
			return
		}
	}
	*o = append(*o, field{key, value})
}

// get returns key's value and whether it is present.
func (o object) get(key string) (any, bool) {
	for _, f := range o {
		if f.key == key {
			return f.value, true
		}
	}
	return nil, false
}

// number is a JSON number already spelled out, e.g. a double from mntr
// that is printed exactly as the four-letter word prints it.
type number string

// javaDouble is a float64 printed as Java's Double.toString.
type javaDouble float64

// encode writes v as Jackson's pretty printer does. Supported values:
// nil, bool, string, int, int32, int64, float64 and javaDouble (both
// printed Java-style), number, object, []any, []string, []int64 and
// map-free compositions of these; anything else is an error, not a panic,
// so a new field of an unexpected type fails a test instead of a server.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := writeValue(&b, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeValue(b *bytes.Buffer, v any, depth int) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case string:
		writeString(b, v)
	case int:
		b.WriteString(strconv.Itoa(v))
	case int32:
		b.WriteString(strconv.FormatInt(int64(v), 10))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		b.WriteString(javalang.FormatDouble(v))
	case javaDouble:
		b.WriteString(javalang.FormatDouble(float64(v)))
	case number:
		b.WriteString(string(v))
	case object:
		return writeObject(b, v, depth)
	case []any:
		return writeArray(b, len(v), func(i int) error { return writeValue(b, v[i], depth) })
	case []string:
		return writeArray(b, len(v), func(i int) error { writeString(b, v[i]); return nil })
	case []int64:
		return writeArray(b, len(v), func(i int) error { b.WriteString(strconv.FormatInt(v[i], 10)); return nil })
	default:
		return fmt.Errorf("admin: cannot encode %T as JSON", v)
	}
	return nil
}

func writeObject(b *bytes.Buffer, o object, depth int) error {
	if len(o) == 0 {
		b.WriteString("{ }")
		return nil
	}
	b.WriteByte('{')
	indent := strings.Repeat("  ", depth+1)
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n" + indent)
		writeString(b, f.key)
		b.WriteString(" : ")
		if err := writeValue(b, f.value, depth+1); err != nil {
			return fmt.Errorf("%s: %w", f.key, err)
		}
	}
	b.WriteString("\n" + strings.Repeat("  ", depth) + "}")
	return nil
}

// writeArray writes n elements on one line. Arrays do not indent what
// they hold: Jackson's array indenter is inline, so an object inside an
// array is indented for the objects around it only.
func writeArray(b *bytes.Buffer, n int, elem func(int) error) error {
	if n == 0 {
		b.WriteString("[ ]")
		return nil
	}
	b.WriteString("[ ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		if err := elem(i); err != nil {
			return err
		}
	}
	b.WriteString(" ]")
	return nil
}

// writeString writes s quoted. Jackson escapes quotes, backslashes and
// control characters but, unlike encoding/json's default, not <, > and &.
func writeString(b *bytes.Buffer, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes (invalid UTF-8 becomes U+FFFD)
	b.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
