package console

import (
	"fmt"
	"testing"
)

// bigTree builds the shape: 100 000 znodes, one parent with
// 50 000 children, the rest spread over 500 directories of 100.
func bigTree(b *testing.B) *env {
	e := newEnv(b, Settings{})
	e.mkdir("/big", nil)
	e.mkdir("/spread", nil)
	var paths []string
	for i := 0; i < 50_000; i++ {
		paths = append(paths, fmt.Sprintf("/big/child-%06d", i))
	}
	for d := 0; d < 500; d++ {
		paths = append(paths, fmt.Sprintf("/spread/d%03d", d))
		for i := 0; i < 99; i++ {
			paths = append(paths, fmt.Sprintf("/spread/d%03d/n%02d", d, i))
		}
	}
	e.createMany(paths, []byte("payload"))
	return e
}

// BenchmarkChildrenPage measures what the browser waits for when it opens
// the 50 000-child parent: one HTTP request for a page of 200 children
// (first page and a page from the middle), end to end through echo.
func BenchmarkChildrenPage(b *testing.B) {
	e := bigTree(b)
	c := e.client()
	for _, bc := range []struct{ name, after string }{{"first", ""}, {"middle", "child-025000"}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				var page childrenPage
				c.mustDo(200, "GET", "/api/children?path=/big&limit=200&after="+bc.after, nil, &page)
				if len(page.Children) != 200 {
					b.Fatalf("%d children", len(page.Children))
				}
			}
		})
	}
	b.Run("node", func(b *testing.B) {
		for b.Loop() {
			c.mustDo(200, "GET", "/api/node?path=/big", nil, nil)
		}
	})
}

// BenchmarkSearch100k is a substring search that must visit the whole
// 100 000-node tree (it matches one node).
func BenchmarkSearch100k(b *testing.B) {
	e := bigTree(b)
	c := e.client()
	for b.Loop() {
		var r searchResult
		c.mustDo(200, "GET", "/api/search?q=child-049999&mode=substring", nil, &r)
		if len(r.Results) != 1 || r.Scanned < 100_000 {
			b.Fatalf("%+v", r)
		}
	}
}
