package txnlog

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkAppendCommit measures group commit on the real disk with
// fsync on: txns/s and fsyncs/s for batches of 1, 10 and 100 txns.
func BenchmarkAppendCommit(b *testing.B) {
	for _, batch := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			w, err := OpenWriter(Options{Dir: b.TempDir(), PreAllocSize: DefaultPreAllocSize, ForceSync: true})
			if err != nil {
				b.Fatal(err)
			}
			recs := dataTxns(1, batch, 100)
			zxid := int64(1)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				for j := range recs {
					r := &recs[j]
					r.hdr.Zxid = zxid
					zxid++
					if err := w.Append(&r.hdr, r.txn, r.digest); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(b.N*batch)/secs, "txns/s")
			b.ReportMetric(float64(b.N)/secs, "fsyncs/s")
			b.StopTimer()
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
