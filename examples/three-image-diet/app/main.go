// A small HTTP service for the three-image diet: it answers with the time in a named zone
// (it needs tzdata), and /fetch makes an HTTPS request (it needs a CA bundle).
package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--check" {
		// One-shot mode for tests: report what the image gives the program, then exit.
		_, zoneErr := time.LoadLocation("Europe/Paris")
		_, tlsErr := tls.Dial("tcp", "127.0.0.1:1", &tls.Config{})
		fmt.Printf("uid=%d zone-ok=%v tls-dial-attempted=%v\n", os.Getuid(), zoneErr == nil, tlsErr != nil)
		return
	}
	http.HandleFunc("/time", func(w http.ResponseWriter, r *http.Request) {
		zone := r.URL.Query().Get("zone")
		if zone == "" {
			zone = "UTC"
		}
		loc, err := time.LoadLocation(zone)
		if err != nil {
			http.Error(w, "unknown zone: "+err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"zone": zone, "time": time.Now().In(loc).Format(time.RFC3339)})
	})
	http.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		fmt.Fprintf(w, "%s\n", resp.Status)
	})
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = ":8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
