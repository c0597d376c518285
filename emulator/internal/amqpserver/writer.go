package amqpserver

import (
	"net"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
)

// maxPendingOut is how many encoded bytes may wait for the socket before
// producers block: back-pressure on a client that stops reading.
const maxPendingOut = 8 << 20

// minHeartbeatTick bounds how often the writer checks for idleness.
const minHeartbeatTick = 5 * time.Millisecond

// frameWriter batches frames: producers append encoded frames to one buffer
// and a single goroutine writes whole buffers to the socket, so a burst of
// frames costs one write system call.
type frameWriter struct {
	nc net.Conn

	mu      sync.Mutex
	cond    sync.Cond // signalled when buf drains or the writer stops
	w       encoding.Writer
	spare   []byte
	wrote   bool // a frame was queued since the last heartbeat check
	stopped bool
	err     error

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newFrameWriter(nc net.Conn) *frameWriter {
	fw := &frameWriter{
		nc:   nc,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	fw.cond.L = &fw.mu
	return fw
}

// append encodes one frame. It blocks while too much output is pending.
func (fw *frameWriter) append(typ uint8, ch uint16, p encoding.Performative, payload []byte) error {
	fw.mu.Lock()
	for len(fw.w.B) > maxPendingOut && !fw.stopped {
		fw.cond.Wait()
	}
	if fw.stopped {
		fw.mu.Unlock()
		return ErrConnClosed
	}
	err := encoding.AppendFrame(&fw.w, typ, ch, p, payload)
	fw.wrote = true
	fw.mu.Unlock()
	fw.signal()
	return err
}

// appendRaw queues bytes that are not a frame (protocol headers).
func (fw *frameWriter) appendRaw(b []byte) {
	fw.mu.Lock()
	fw.w.B = append(fw.w.B, b...)
	fw.wrote = true
	fw.mu.Unlock()
	fw.signal()
}

func (fw *frameWriter) signal() {
	select {
	case fw.wake <- struct{}{}:
	default:
	}
}

// run writes queued output until stop is closed, then flushes what is left.
// heartbeat, when positive, is the longest the socket may stay silent.
func (fw *frameWriter) run(heartbeat func() time.Duration) {
	defer close(fw.done)
	var tick <-chan time.Time
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		if tick == nil {
			if hb := heartbeat(); hb > 0 {
				// Check four times per period so the gap never exceeds half of it,
				// but do not let a client's absurdly short timeout make us spin.
				ticker = time.NewTicker(max(hb/4, minHeartbeatTick))
				tick = ticker.C
			}
		}
		select {
		case <-fw.wake:
			if !fw.flush() {
				return
			}
		case <-tick:
			fw.mu.Lock()
			idle := !fw.wrote
			fw.wrote = false
			fw.mu.Unlock()
			if idle {
				// An empty frame keeps the client's idle timer from firing.
				_ = fw.append(encoding.FrameTypeAMQP, 0, nil, nil)
			}
		case <-fw.stop:
			fw.nc.SetWriteDeadline(time.Now().Add(time.Second))
			fw.flush()
			fw.mu.Lock()
			fw.stopped = true
			fw.cond.Broadcast()
			fw.mu.Unlock()
			return
		}
	}
}

// flush writes everything queued; false means the socket failed.
func (fw *frameWriter) flush() bool {
	for {
		fw.mu.Lock()
		buf := fw.w.B
		if len(buf) == 0 {
			fw.mu.Unlock()
			return true
		}
		fw.w.B = fw.spare[:0]
		fw.mu.Unlock()

		_, err := fw.nc.Write(buf)

		fw.mu.Lock()
		if cap(buf) <= 4*maxPendingOut {
			fw.spare = buf[:0]
		}
		if err != nil {
			fw.err = err
			fw.stopped = true
		}
		fw.cond.Broadcast()
		fw.mu.Unlock()
		if err != nil {
			return false
		}
	}
}

// close flushes pending output and stops the writer goroutine.
func (fw *frameWriter) close() {
	select {
	case <-fw.stop:
	default:
		close(fw.stop)
	}
	<-fw.done
	fw.mu.Lock()
	fw.stopped = true
	fw.cond.Broadcast()
	fw.mu.Unlock()
}
