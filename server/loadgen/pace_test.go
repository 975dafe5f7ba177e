package loadgen

import (
	"testing"
	"time"
)

// TestScheduleSpreadsTheRate: four goroutines sharing 1000 requests/s
// each send one every 4 ms, offset by 1 ms from each other, so that the
// offered load is evenly spaced, not four requests at once.
func TestScheduleSpreadsTheRate(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var dues []time.Duration
	for i := range 4 {
		s := newSchedule(from, 1000, i, 4)
		if s.interval != 4*time.Millisecond {
			t.Fatalf("worker %d: interval %v, want 4ms", i, s.interval)
		}
		for k := range 3 {
			due := s.next
			s.next = s.next.Add(s.interval)
			dues = append(dues, due.Sub(from))
			if want := time.Duration(i)*time.Millisecond + time.Duration(k)*4*time.Millisecond; due.Sub(from) != want {
				t.Errorf("worker %d request %d due at +%v, want +%v", i, k, due.Sub(from), want)
			}
		}
	}
}

// TestScheduleWaitCatchesUp: behind schedule, wait returns at once with
// each missed due time in turn (the late requests go out back to back);
// ahead of it, wait sleeps until the request is due.
func TestScheduleWaitCatchesUp(t *testing.T) {
	past := time.Now().Add(-time.Second)
	s := &schedule{next: past, interval: 10 * time.Millisecond}
	for k := range 3 {
		due, sent := s.wait()
		if want := past.Add(time.Duration(k) * 10 * time.Millisecond); !due.Equal(want) {
			t.Fatalf("late request %d due %v, want %v: the schedule must not move", k, due, want)
		}
		if sent.Before(due) {
			t.Fatalf("sent %v before due %v", sent, due)
		}
	}
	s = &schedule{next: time.Now().Add(20 * time.Millisecond), interval: time.Second}
	due, sent := s.wait()
	if sent.Before(due) {
		t.Fatalf("wait returned %v before the request was due at %v", sent, due)
	}
}

// TestLatencyStart: a request held up by the answer to the previous one
// counts from when it was due; one the load generator itself sent late
// (it woke up late) counts from when it was sent.
func TestLatencyStart(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name               string
		due, sent, prevEnd time.Time
		want               time.Time
	}{
		{"on time", at(10), at(10), at(5), at(10)},
		{"held up by the previous answer", at(10), at(30), at(30), at(10)},
		{"woke up late", at(10), at(12), at(5), at(12)},
		{"first request", at(10), at(11), time.Time{}, at(11)},
	}
	for _, tt := range tests {
		if got := latencyStart(tt.due, tt.sent, tt.prevEnd); !got.Equal(tt.want) {
			t.Errorf("%s: counts from %v, want %v", tt.name, got.Sub(base), tt.want.Sub(base))
		}
	}
}
