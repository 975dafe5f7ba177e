package loadgen

import "time"

// schedule is one worker's share of a fixed offered load: its k-th
// request is due at first + k*interval.
type schedule struct {
	next     time.Time
	interval time.Duration
}

// newSchedule spreads rate requests per second over workers goroutines:
// each sends one every workers/rate seconds, and goroutine i starts i/workers
// of an interval after from, so that their requests interleave evenly
// instead of leaving in bursts.
func newSchedule(from time.Time, rate float64, i, workers int) *schedule {
	interval := time.Duration(float64(workers) / rate * float64(time.Second))
	return &schedule{next: from.Add(interval * time.Duration(i) / time.Duration(workers)), interval: interval}
}

// wait sleeps until the next request is due and returns when it was due
// and when it is sent. Behind schedule, it returns at once, and the
// schedule is not moved: the requests that are late go out back to back
// until it is met again.
func (s *schedule) wait() (due, sent time.Time) {
	due = s.next
	s.next = s.next.Add(s.interval)
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
	return due, time.Now()
}

// latencyStart is the time a paced request's latency counts from: when it
// was due, if it went out late because the worker's previous request was
// answered only after that (the server held it up), and otherwise when it
// was sent, so that the load generator's own late wake-ups are not
// charged to the server.
func latencyStart(due, sent, prevEnd time.Time) time.Time {
	if prevEnd.After(due) {
		return due
	}
	return sent
}
