// otel_bbolt_writer writes an OpenTelemetry Collector file_storage client file the way the
// collector does: go.etcd.io/bbolt (Debian's golang-github-coreos-bbolt-dev), the options of
// extension/storage/filestorage/client.go (NoSync, NoFreelistSync, the map freelist), bucket
// "default", key "file_input.knownFiles" (the stanza persister scopes the key by the operator
// id), and the value as pkg/stanza/fileconsumer/internal/checkpoint.Save encodes it: a JSON
// stream of the file count, then one reader.Metadata per file, each from json.Encoder (so
// each ends in "\n"). The fingerprint is the file's first bytes (fingerprint.New: ReadAt of
// fingerprint_size bytes at 0, fewer at EOF), marshalled as {"first_bytes": <base64>}.
//
// Usage:
//
//	otel_bbolt_writer write DB SIZE FILE:OFFSET...    one transaction
//	otel_bbolt_writer live DB SIZE ROUNDS FILE...     ROUNDS transactions; in round r every
//	                                                  file's offset is r; each transaction
//	                                                  also rewrites a filler key of r*997
//	                                                  bytes (pages freed and reused, overflow)
//	otel_bbolt_writer raw DB KEY VALUEFILE           one transaction: KEY = the file's bytes
//	otel_bbolt_writer legacy DB SIZE FILE:OFFSET...   the pre-v0.94 layout: FirstBytes
//	otel_bbolt_writer keys DB N SIZE FILE:OFFSET...   as write, plus N other keys of 100
//	                                                  bytes beside it (branch pages)
//
// Built by the tests with GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOPROXY=off.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

var defaultBucket = []byte("default")

const knownFilesKey = "file_input.knownFiles"

type fingerprint struct {
	firstBytes []byte
}

type fpMarshal struct {
	FirstBytes []byte `json:"first_bytes"`
}

func (f *fingerprint) MarshalJSON() ([]byte, error) {
	return json.Marshal(&fpMarshal{FirstBytes: f.firstBytes})
}

// flush.State and tokenlen.State.
type flushState struct {
	LastDataChange time.Time
	LastDataLength int
}

type tokenLenState struct {
	MinimumLength int
}

// reader.Metadata.
type metadata struct {
	Fingerprint      *fingerprint
	Offset           int64
	RecordNum        int64
	FileAttributes   map[string]any
	HeaderFinalized  bool
	FlushState       flushState
	TokenLenState    tokenLenState
	FileType         string
	TruncateSkipping bool
}

// The v0.93 layout: Fingerprint{FirstBytes []byte} without a MarshalJSON.
type legacyFingerprint struct {
	FirstBytes []byte
}

type legacyMetadata struct {
	Fingerprint     *legacyFingerprint
	Offset          int64
	FileAttributes  map[string]any
	HeaderFinalized bool
	FlushState      flushState
}

func firstBytes(path string, size int) []byte {
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	buf := make([]byte, size)
	n, _ := f.ReadAt(buf, 0)
	return buf[:n]
}

func encode(size int, files []string, offsets []int64, legacy bool) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	check(enc.Encode(len(files)))
	for i, path := range files {
		attrs := map[string]any{
			"log.file.name": path[strings.LastIndex(path, "/")+1:],
			"log.file.path": path,
		}
		fb := firstBytes(path, size)
		if legacy {
			check(enc.Encode(&legacyMetadata{
				Fingerprint:    &legacyFingerprint{FirstBytes: fb},
				Offset:         offsets[i],
				FileAttributes: attrs,
				FlushState:     flushState{LastDataChange: time.Unix(1700000000, 0).UTC()},
			}))
			continue
		}
		check(enc.Encode(&metadata{
			Fingerprint:    &fingerprint{firstBytes: fb},
			Offset:         offsets[i],
			RecordNum:      offsets[i] / 10,
			FileAttributes: attrs,
			FlushState:     flushState{LastDataChange: time.Unix(1700000000, 0).UTC()},
		}))
	}
	return buf.Bytes()
}

func open(path string) *bolt.DB {
	db, err := bolt.Open(path, 0600, &bolt.Options{
		Timeout:        time.Second,
		NoSync:         true,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	check(err)
	return db
}

func put(db *bolt.DB, kv map[string][]byte) {
	check(db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(defaultBucket)
		if err != nil {
			return err
		}
		for k, v := range kv {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	}))
}

func fileOffsets(args []string) ([]string, []int64) {
	var files []string
	var offsets []int64
	for _, a := range args {
		i := strings.LastIndex(a, ":")
		off, err := strconv.ParseInt(a[i+1:], 10, 64)
		check(err)
		files = append(files, a[:i])
		offsets = append(offsets, off)
	}
	return files, offsets
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: otel_bbolt_writer write|live|raw|legacy DB ...")
		os.Exit(2)
	}
	mode, path := os.Args[1], os.Args[2]
	db := open(path)
	defer db.Close()
	switch mode {
	case "write", "legacy":
		size, err := strconv.Atoi(os.Args[3])
		check(err)
		files, offsets := fileOffsets(os.Args[4:])
		put(db, map[string][]byte{knownFilesKey: encode(size, files, offsets, mode == "legacy")})
	case "keys":
		n, err := strconv.Atoi(os.Args[3])
		check(err)
		size, err := strconv.Atoi(os.Args[4])
		check(err)
		files, offsets := fileOffsets(os.Args[5:])
		kv := map[string][]byte{knownFilesKey: encode(size, files, offsets, false)}
		for i := 0; i < n; i++ {
			kv[fmt.Sprintf("file_input.k%06d", i)] = bytes.Repeat([]byte{'v'}, 100)
		}
		put(db, kv)
	case "raw":
		v, err := os.ReadFile(os.Args[4])
		check(err)
		put(db, map[string][]byte{os.Args[3]: v})
	case "live":
		size, err := strconv.Atoi(os.Args[3])
		check(err)
		rounds, err := strconv.Atoi(os.Args[4])
		check(err)
		files := os.Args[5:]
		for r := 1; r <= rounds; r++ {
			offsets := make([]int64, len(files))
			for i := range offsets {
				offsets[i] = int64(r)
			}
			put(db, map[string][]byte{
				knownFilesKey:       encode(size, files, offsets, false),
				"file_input.filler": bytes.Repeat([]byte{byte(r)}, r*997%20000),
			})
		}
		// Tells the reader the last round was committed.
		fmt.Println("done", rounds)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
