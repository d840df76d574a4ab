// Command db_tool_bbolt prints what bbolt itself reports about a database file, in the shape
// of bbolt's command line, for scenarios' `dst db` comparison test.
//
//	db_tool_bbolt pages <file>   the page table (id, type, items, overflow), from tx.Page
//	db_tool_bbolt check <file>   every tx.Check() error, then "N errors found" or "OK"
//
// The file is opened read-only.
package main

import (
	"fmt"
	"os"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

func pages(tx *bolt.Tx) error {
	// A read-only bbolt 1.3.6 loads its freelist lazily; tx.Check loads it (tx.Page needs it).
	for range tx.Check() {
	}
	fmt.Println("ID       TYPE       ITEMS  OVRFLW")
	fmt.Println("======== ========== ====== ======")
	for id := 0; ; {
		p, err := tx.Page(id)
		if err != nil {
			return err
		}
		if p == nil {
			return nil
		}
		items, overflow := "", ""
		if p.Type != "free" {
			items = strconv.Itoa(p.Count)
			if p.OverflowCount > 0 {
				overflow = strconv.Itoa(p.OverflowCount)
			}
		}
		fmt.Printf("%-8d %-10s %-6s %-6s\n", p.ID, p.Type, items, overflow)
		id++
		if p.Type != "free" {
			id += p.OverflowCount
		}
	}
}

func check(tx *bolt.Tx) error {
	n := 0
	for err := range tx.Check() {
		fmt.Println(err)
		n++
	}
	if n > 0 {
		fmt.Printf("%d errors found\n", n)
	} else {
		fmt.Println("OK")
	}
	return nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: db_tool_bbolt pages|check <file>")
		os.Exit(2)
	}
	db, err := bolt.Open(os.Args[2], 0600, &bolt.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer db.Close()
	run := pages
	if os.Args[1] == "check" {
		run = check
	}
	if err := db.View(run); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
