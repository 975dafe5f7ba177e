package peer

import (
	"sync"

	"github.com/zkd-io/zkd/server/quorum/zab"
)

// logWriter makes a broadcasting peer's proposals durable on a goroutine
// of its own, as ZooKeeper's SyncRequestProcessor does, so that the owner
// goroutine keeps working while the disk does: a leader counts ACKs,
// commits and proposes the next batch; a learner applies COMMITs and
// answers its clients. Batches queued during one fsync share the next
// (group commit). The core learns of each batch's durability through
// Advance, called by the owner in order when the writer reports back; a
// leader's own vote for a txn counts only then (zab.Ready), and a learner
// sends its ACKs only then, so this changes when work happens, not what
// may be acknowledged.
type logWriter struct {
	d *disk

	mu    sync.Mutex
	queue [][]zab.Entry
	spare [][]zab.Entry // the array of the queue last taken, for the next one
	wake  chan struct{}

	done   chan writeDone
	stop   chan struct{}
	exited chan struct{}
}

// writeDone reports batches made durable, in the order they were queued.
type writeDone struct {
	batches int
	entries []zab.Entry
	snapDue bool
	err     error
}

func startLogWriter(d *disk) *logWriter {
	w := &logWriter{d: d, wake: make(chan struct{}, 1), done: make(chan writeDone, 16),
		stop: make(chan struct{}), exited: make(chan struct{})}
	go w.run()
	return w
}

// enqueue queues one Ready's Append (owner goroutine).
func (w *logWriter) enqueue(entries []zab.Entry) {
	w.mu.Lock()
	w.queue = append(w.queue, entries)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *logWriter) run() {
	defer close(w.exited)
	for {
		stopping := false
		select {
		case <-w.wake:
		case <-w.stop:
			stopping = true
		}
		for {
			w.mu.Lock()
			batches := w.queue
			w.queue, w.spare = w.spare, nil
			w.mu.Unlock()
			if len(batches) == 0 {
				break
			}
			// The owner reads all only until it advances the batches,
			// and it does not change them, so one batch goes as it is.
			all := batches[0]
			if len(batches) > 1 {
				all = nil
				for _, b := range batches {
					all = append(all, b...)
				}
			}
			due, err := w.d.write(all)
			n := len(batches)
			clear(batches)
			w.mu.Lock()
			w.spare = batches[:0]
			w.mu.Unlock()
			w.done <- writeDone{batches: n, entries: all, snapDue: due, err: err}
			if err != nil {
				return
			}
		}
		if stopping {
			return
		}
	}
}

// close finishes the queued writes and stops the writer; it returns the
// reports the owner has not taken yet, so the disk view can still record
// what became durable.
func (w *logWriter) close() []writeDone {
	close(w.stop)
	var rest []writeDone
	for {
		select {
		case wd := <-w.done:
			rest = append(rest, wd)
		case <-w.exited:
			for {
				select {
				case wd := <-w.done:
					rest = append(rest, wd)
				default:
					return rest
				}
			}
		}
	}
}
