package checkpoints

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
)

// ownerDir holds the owner slots, hidden so that record listings skip it.
const ownerDir = ".owners"

// maxOwnerSlots bounds the slots a directory can have: far more Processors
// than one machine runs on one store.
const maxOwnerSlots = 1024

// OwnerID returns an owner id for a Processor of this process that a
// restarted process gets again, so that the restarted Processor takes its
// partitions back at once instead of waiting for its old ownerships to
// expire: the ids are slots of the store's directory (.owners/0,
// .owners/1, …), each held under an exclusive flock(2) while the process
// that took it lives, and the lowest free slot is taken. A slot is free
// only when its last holder is gone, so no two live Processors ever share
// an id; a restarted process takes the slot (and the id, and so the
// partitions) of one that died, at once. [eventhub.NewProcessor] asks for
// one when ProcessorOptions.OwnerID is empty. Each call takes another slot,
// held until Close or the end of the process. It returns "" (and no error)
// where the OS has no flock(2): the Processor then makes a random id.
func (f *FileStore) OwnerID() (string, error) {
	const op = "OwnerID"
	if !haveFlock {
		return "", nil
	}
	dir := filepath.Join(f.dir, ownerDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", storageError(op, "", err)
	}
	for n := range maxOwnerSlots {
		path := filepath.Join(dir, strconv.Itoa(n))
		file, unlock, ok, err := tryLock(path)
		if err != nil {
			return "", storageError(op, "", err)
		}
		if !ok {
			continue
		}
		id, err := slotID(file)
		if err != nil {
			unlock()
			return "", storageError(op, "", err)
		}
		f.mu.Lock()
		f.owners = append(f.owners, unlock)
		f.mu.Unlock()
		return id, nil
	}
	return "", newError(op, CodeInvalidArgument, "", "every owner slot of "+dir+" is taken")
}

// slotID reads the id a slot keeps, making it on first use.
func slotID(file *os.File) (string, error) {
	b, err := os.ReadFile(file.Name())
	if err != nil {
		return "", err
	}
	if id := string(bytes.TrimSpace(b)); id != "" {
		return id, nil
	}
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	id := "iothub-go-" + hex.EncodeToString(r[:])
	if _, err := file.WriteAt([]byte(id+"\n"), 0); err != nil {
		return "", err
	}
	if err := file.Sync(); err != nil {
		return "", err
	}
	return id, nil
}

// Close releases the owner slots this store handed out, as the end of the
// process would; their ids may then be taken by another Processor. The
// store's records stay usable.
func (f *FileStore) Close() error {
	f.mu.Lock()
	owners := f.owners
	f.owners = nil
	f.mu.Unlock()
	for _, unlock := range owners {
		unlock()
	}
	return nil
}

var errNoFlock = errors.New("checkpoints: no flock(2) on this OS")
