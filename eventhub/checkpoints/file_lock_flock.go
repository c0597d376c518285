//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package checkpoints

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// lockRecord takes an exclusive flock(2) on the lock file path, creating it
// if needed, and returns the function that releases it. The kernel drops the
// lock when the process dies, so a crash never leaves a record locked. Lock
// files are never removed: removing one while another process waits on it
// would let two processes hold "the" lock.
func lockRecord(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	// Poll with LOCK_NB rather than block, so that ctx can end the wait.
	wait := 50 * time.Microsecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// haveFlock says tryLock works here.
const haveFlock = true

// tryLock takes an exclusive flock(2) on path without waiting: ok false
// when another holder has it. The open file is returned, held until
// unlock.
func tryLock(path string) (f *os.File, unlock func(), ok bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, false, nil
		}
		return nil, nil, false, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return f, func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, true, nil
}

// syncDir flushes dir's entries, so that a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
