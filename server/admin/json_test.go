package admin

import (
	"testing"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"null", nil, "null"},
		{"bools", object{{"t", true}, {"f", false}}, "{\n  \"t\" : true,\n  \"f\" : false\n}"},
		{"empty object", object{}, "{ }"},
		{"empty array", []any{}, "[ ]"},
		{"strings", []string{"a", `q"b\`, "<&>", "tab\tnl\n"}, `[ "a", "q\"b\\", "<&>", "tab\tnl\n" ]`},
		{"ints", []int64{1, -2}, "[ 1, -2 ]"},
		{"doubles", []any{0.0, 4.6667, 2.0, 1e7, 0.0001, javaDouble(-0.5)}, "[ 0.0, 4.6667, 2.0, 1.0E7, 1.0E-4, -0.5 ]"},
		{"raw number", number("0.0"), "0.0"},
		{"object in array in object",
			object{{"c", []any{object{{"k", int32(1)}}}}, {"e", object{}}},
			"{\n  \"c\" : [ {\n    \"k\" : 1\n  } ],\n  \"e\" : { }\n}"},
		{"nested objects", object{{"a", object{{"b", object{{"c", 1}}}}}},
			"{\n  \"a\" : {\n    \"b\" : {\n      \"c\" : 1\n    }\n  }\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestEncodeUnsupported(t *testing.T) {
	if _, err := encode(object{{"m", map[string]int{}}}); err == nil {
		t.Error("a map encoded; want an error naming the type")
	}
}

func TestObjectPut(t *testing.T) {
	o := object{{"a", 1}}
	o.put("b", 2)
	o.put("a", 3)
	if len(o) != 2 || o[0] != (field{"a", 3}) || o[1] != (field{"b", 2}) {
		t.Errorf("put: %v", o)
	}
}
