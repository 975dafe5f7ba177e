package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Native adds a native histogram to opts, alongside its classic buckets:
// Prometheus servers that scrape native histograms get high-resolution
// quantiles at a fraction of the series, the others keep the classic
// buckets. Every zkd histogram is built through it so that all of them
// resolve alike (factor 1.1: about 10% relative error; at most 100
// buckets, reset at most hourly when that is exceeded).
func Native(opts prometheus.HistogramOpts) prometheus.HistogramOpts {
	opts.NativeHistogramBucketFactor = 1.1
	opts.NativeHistogramMaxBucketNumber = 100
	opts.NativeHistogramMinResetDuration = time.Hour
	return opts
}
