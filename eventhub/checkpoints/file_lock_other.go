//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package checkpoints

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
)

// staleLockAge is how old a lock file must be before lockRecord assumes its
// holder crashed and removes it. A claim holds the lock for one small read
// and write, far less than this.
const staleLockAge = 30 * time.Second

// lockRecord creates the lock file path exclusively (O_EXCL), waiting while
// another holder has it, and returns the function that removes it. Where
// flock(2) is missing this is the portable way to exclude other processes;
// a lock file left by a crash is removed once it is staleLockAge old.
func lockRecord(ctx context.Context, path string) (unlock func(), err error) {
	wait := 50 * time.Microsecond
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > staleLockAge {
			os.Remove(path)
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// haveFlock says tryLock cannot tell a live holder from a dead one here.
const haveFlock = false

func tryLock(string) (*os.File, func(), bool, error) { return nil, nil, false, errNoFlock }

// syncDir is a no-op: not every OS here can flush a directory (Windows
// cannot open one for writing); the rename itself is still atomic.
func syncDir(dir string) error { return nil }
