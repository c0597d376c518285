package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports how far a long operation got: a bar redrawn in place
// on a terminal; elsewhere (a file, a pipe, CI logs) a plain line at every
// tenth of the way and at least every 10 s, never carriage-return frames.
type progress struct {
	bar *progressbar.ProgressBar // nil off a terminal

	w          io.Writer
	what       string
	total      int
	mu         sync.Mutex
	lastTenth  int
	lastReport time.Time
	now        func() time.Time
}

// lineEvery is the longest a non-terminal report stays silent.
const lineEvery = 10 * time.Second

func newProgress(w io.Writer, total int, what string) *progress {
	p := &progress{w: w, what: what, total: total, now: time.Now}
	p.lastReport = p.now()
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(what), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	}
	return p
}

// set records that done of total are done.
func (p *progress) set(done int) {
	if p.bar != nil {
		_ = p.bar.Set(done)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tenth := 0
	if p.total > 0 {
		tenth = done * 10 / p.total
	}
	now := p.now()
	if tenth > p.lastTenth || now.Sub(p.lastReport) >= lineEvery {
		p.lastTenth, p.lastReport = tenth, now
		fmt.Fprintf(p.w, "%s: %d of %d (%d%%)\n", p.what, done, p.total, done*100/max(p.total, 1))
	}
}

// finish clears the bar.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Close()
	}
}
