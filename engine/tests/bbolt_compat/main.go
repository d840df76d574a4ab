// Command bbolt_compat is the Go half of engine's compatibility test against real bbolt.
//
//	bbolt_compat write <file>   writes a database with nested and inline buckets, overflow
//	                            values, deletes and a deleted bucket
//	bbolt_compat dump <file>    runs tx.Check() (exit 1 on any error), then prints every bucket
//	                            and key in order, one per line:
//	                              B <bucket path>
//	                              K <bucket path> <key hex> <value hex>
//	                            where a bucket path is the hex names joined by '/'.
package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
)

func value(i, n int) []byte {
	return bytes.Repeat([]byte{byte(i)}, n)
}

func write(path string) error {
	db, err := bolt.Open(path, 0600, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		plain, err := tx.CreateBucket([]byte("plain"))
		if err != nil {
			return err
		}
		for i := 0; i < 3000; i++ {
			n := i % 97
			if i%500 == 0 {
				n = 10000 + i // overflow pages
			}
			if err := plain.Put([]byte(fmt.Sprintf("key-%06d", i)), value(i, n)); err != nil {
				return err
			}
		}
		child, err := plain.CreateBucket([]byte("child"))
		if err != nil {
			return err
		}
		for i := 0; i < 800; i++ {
			if err := child.Put([]byte(fmt.Sprintf("c%05d", i)), value(i, 30)); err != nil {
				return err
			}
		}
		grand, err := child.CreateBucket([]byte("grandchild-inline"))
		if err != nil {
			return err
		}
		if err := grand.Put([]byte("g"), []byte("tiny")); err != nil {
			return err
		}
		tiny, err := tx.CreateBucket([]byte("tiny-inline"))
		if err != nil {
			return err
		}
		if _, err := tiny.NextSequence(); err != nil {
			return err
		}
		if err := tiny.Put([]byte("a"), []byte("b")); err != nil {
			return err
		}
		doomed, err := tx.CreateBucket([]byte("doomed"))
		if err != nil {
			return err
		}
		for i := 0; i < 500; i++ {
			if err := doomed.Put([]byte(fmt.Sprintf("d%05d", i)), value(i, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		plain := tx.Bucket([]byte("plain"))
		for i := 0; i < 3000; i += 3 {
			if err := plain.Delete([]byte(fmt.Sprintf("key-%06d", i))); err != nil {
				return err
			}
		}
		if err := plain.Put([]byte("key-000001"), []byte("overwritten")); err != nil {
			return err
		}
		return tx.DeleteBucket([]byte("doomed"))
	})
}

func dumpBucket(b *bolt.Bucket, path string, out *strings.Builder) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			sub := path + "/" + hex.EncodeToString(k)
			fmt.Fprintf(out, "B %s\n", sub)
			return dumpBucket(b.Bucket(k), sub, out)
		}
		fmt.Fprintf(out, "K %s %s %s\n", path, hex.EncodeToString(k), hex.EncodeToString(v))
		return nil
	})
}

func dump(path string) error {
	db, err := bolt.Open(path, 0600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		bad := 0
		for err := range tx.Check() {
			fmt.Fprintf(os.Stderr, "check: %v\n", err)
			bad++
		}
		if bad > 0 {
			return fmt.Errorf("tx.Check found %d problems", bad)
		}
		var out strings.Builder
		err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			p := hex.EncodeToString(name)
			fmt.Fprintf(&out, "B %s\n", p)
			return dumpBucket(b, p, &out)
		})
		if err != nil {
			return err
		}
		fmt.Print(out.String())
		return nil
	})
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: bbolt_compat write|dump <file>")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "write":
		err = write(os.Args[2])
	case "dump":
		err = dump(os.Args[2])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
