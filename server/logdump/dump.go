package logdump

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/zkd-io/zkd/server/txnlog"
)

// Options control how txns are selected and shown.
type Options struct {
	Filter   Filter
	JSON     bool           // NDJSON, one object per txn
	Data     DataFormat     // human output; "" means utf8
	MaxData  int            // bytes of data shown in human output; 0 means 64, < 0 means all
	Location *time.Location // nil means UTC
	Verbose  bool           // show file, offset and size of each record
}

func (o *Options) loc() *time.Location {
	if o.Location == nil {
		return time.UTC
	}
	return o.Location
}

// DefaultMaxData is how much of each data field human output shows by default.
const DefaultMaxData = 64

func (o *Options) maxData() int {
	if o.MaxData == 0 {
		return DefaultMaxData
	}
	return o.MaxData
}

func (o *Options) dataFormat() DataFormat {
	if o.Data == "" {
		return DataUTF8
	}
	return o.Data
}

// Result summarises a dump.
type Result struct {
	Txns     int       // records read
	Shown    int       // records that passed the filter
	Problems []Problem // damage met on the way (reading went on past it)
}

// Dump prints the txns of in's logs that pass the filter. Damaged records
// and files are reported in Result.Problems (and, in human mode, as lines
// starting with "!") rather than stopping the dump.
func Dump(w io.Writer, in *Input, opts Options) (Result, error) {
	var res Result
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	err := scanLogs(in, opts.Filter.FromZxid, func(e *txnlog.Entry) error {
		res.Txns++
		if opts.Filter.ToZxid != 0 && e.Hdr.Zxid > opts.Filter.ToZxid {
			return nil
		}
		t := NewTxn(e, opts.loc())
		if !opts.Filter.Match(&t, e.Hdr.Zxid, e.Hdr.ClientID) {
			return nil
		}
		res.Shown++
		if opts.JSON {
			if opts.dataFormat() == DataNone {
				stripData(&t)
			}
			return enc.Encode(&t)
		}
		_, err := fmt.Fprintln(w, t.Human(opts.dataFormat(), opts.maxData(), opts.Verbose))
		return err
	}, func(p Problem) {
		res.Problems = append(res.Problems, p)
		if !opts.JSON {
			fmt.Fprintf(w, "! %s\n", p)
		}
	})
	return res, err
}

func stripData(t *Txn) {
	t.Op.Data = nil
	for i := range t.Ops {
		t.Ops[i].Data = nil
	}
}
