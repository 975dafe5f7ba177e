package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeFiles creates files (relative name -> content) below dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const ensembleCfg = `tickTime=2000
initLimit=10
syncLimit=5
dataDir=DIR/data
clientPort=2181
server.1=zk1:2888:3888
server.2=zk2:2888:3888
server.3=zk3:2888:3888
`

func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string // DIR in content is replaced by the test directory
		check    func(t *testing.T, c *Config, dir string)
		warnings []string
	}{
		{
			name:  "standalone sample without myid",
			files: map[string]string{"zoo.cfg": "dataDir=DIR/data\nclientPort=2181\ntickTime=2000\n"},
			check: func(t *testing.T, c *Config, dir string) {
				if !c.Standalone() || c.MyID != NoServerID {
					t.Errorf("Standalone=%v MyID=%d", c.Standalone(), c.MyID)
				}
			},
		},
		{
			name:  "ensemble with myid",
			files: map[string]string{"zoo.cfg": ensembleCfg, "data/myid": "2\n"},
			check: func(t *testing.T, c *Config, dir string) {
				if c.Standalone() || c.MyID != 2 {
					t.Errorf("Standalone=%v MyID=%d", c.Standalone(), c.MyID)
				}
				if self, ok := c.Self(); !ok || self.Host != "zk2" {
					t.Errorf("Self() = %+v, %v", self, ok)
				}
				if c.DataDir != filepath.Join(dir, "data") || c.TxnLogDir() != c.DataDir {
					t.Errorf("DataDir=%q DataLogDir=%q", c.DataDir, c.DataLogDir)
				}
			},
		},
		{
			name:  "myid with surrounding whitespace and more lines",
			files: map[string]string{"zoo.cfg": ensembleCfg, "data/myid": "  3 \r\nignored\n"},
			check: func(t *testing.T, c *Config, dir string) {
				if c.MyID != 3 {
					t.Errorf("MyID = %d", c.MyID)
				}
			},
		},
		{
			name: "client address from own server line",
			files: map[string]string{
				"zoo.cfg":   "initLimit=5\nsyncLimit=2\ndataDir=DIR/d\nserver.1=a:1:2;2191\nserver.2=b:1:2;10.0.0.2:2192\nserver.3=c:1:2\n",
				"d/myid":    "2",
				"unrelated": "",
			},
			check: func(t *testing.T, c *Config, dir string) {
				if c.ClientPort != 2192 || c.ClientPortAddress != "10.0.0.2" {
					t.Errorf("client address %q:%d", c.ClientPortAddress, c.ClientPort)
				}
			},
		},
		{
			name: "client port only on server line listens everywhere",
			files: map[string]string{
				"zoo.cfg": "initLimit=5\nsyncLimit=2\ndataDir=DIR/d\nclientPort=2191\nserver.1=a:1:2;2191\nserver.2=b:1:2;2192\nserver.3=c:1:2\n",
				"d/myid":  "1",
			},
			check: func(t *testing.T, c *Config, dir string) {
				if c.ClientPort != 2191 || c.ClientPortAddress != "" {
					t.Errorf("client address %q:%d", c.ClientPortAddress, c.ClientPort)
				}
			},
		},
		{
			name: "observer line overrides peerType",
			files: map[string]string{
				"zoo.cfg":   ensembleCfg + "server.4=zk4:2888:3888:observer\n",
				"data/myid": "4",
			},
			check: func(t *testing.T, c *Config, dir string) {
				if c.PeerType != Observer {
					t.Errorf("PeerType = %v", c.PeerType)
				}
			},
			warnings: []string{"DIR/zoo.cfg: peerType participant does not match server.4 (observer); using the server line"},
		},
		{
			name: "dynamic config file",
			files: map[string]string{
				"zoo.cfg":                   "initLimit=5\nsyncLimit=2\ndataDir=DIR/d\nreconfigEnabled=true\ndynamicConfigFile=DIR/zoo.cfg.dynamic.100000000\n",
				"zoo.cfg.dynamic.100000000": "server.1=a:2888:3888:participant;0.0.0.0:2181\nserver.2=b:2888:3888:participant;0.0.0.0:2181\nserver.3=c:2888:3888:participant;0.0.0.0:2181\n",
				"d/myid":                    "3",
			},
			check: func(t *testing.T, c *Config, dir string) {
				if len(c.Servers) != 3 || c.ConfigVersion != 0x100000000 || c.ClientPort != 2181 {
					t.Errorf("Servers=%+v ConfigVersion=%#x ClientPort=%d", c.Servers, c.ConfigVersion, c.ClientPort)
				}
			},
			// Apache writes such a config when reconfig is on; zkd reads it, and says reconfig itself is not there.
			warnings: []string{"DIR/zoo.cfg:4: reconfigEnabled=true: zkd has no dynamic reconfiguration; reconfig requests fail with RECONFIGDISABLED"},
		},
		{
			name: "dynamic config file without version suffix",
			files: map[string]string{
				"zoo.cfg":         "initLimit=5\nsyncLimit=2\ndataDir=DIR/d\nversion=5\ndynamicConfigFile=DIR/zoo.cfg.dynamic\n",
				"zoo.cfg.dynamic": "server.1=a:2888:3888\nserver.2=b:2888:3888\nserver.3=c:2888:3888\n",
				"d/myid":          "1",
			},
			check: func(t *testing.T, c *Config, dir string) {
				if c.ConfigVersion != 0 {
					t.Errorf("ConfigVersion = %#x", c.ConfigVersion)
				}
			},
		},
		{
			name:  "single server line runs standalone without myid",
			files: map[string]string{"zoo.cfg": "dataDir=DIR/d\nclientPort=2181\nserver.1=a:2888:3888\n"},
			check: func(t *testing.T, c *Config, dir string) {
				if !c.Standalone() {
					t.Error("not standalone")
				}
			},
			warnings: []string{"DIR/zoo.cfg: only one server is listed and standaloneEnabled is true: running standalone, the server line is ignored"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{}
			for name, content := range tt.files {
				files[name] = strings.ReplaceAll(content, "DIR", dir)
			}
			writeFiles(t, dir, files)
			c, warnings, err := Load(filepath.Join(dir, "zoo.cfg"))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var want []string
			for _, w := range tt.warnings {
				want = append(want, strings.ReplaceAll(w, "DIR", dir))
			}
			if !reflect.DeepEqual(warnings, want) {
				t.Errorf("warnings:\n got  %q\n want %q", warnings, want)
			}
			tt.check(t, c, dir)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // DIR is replaced by the test directory
	}{
		{"missing file", nil, "read config: open DIR/zoo.cfg: no such file or directory"},
		{"bad value names file and line", map[string]string{"zoo.cfg": "dataDir=/d\n\ntickTime=abc\n"},
			`DIR/zoo.cfg:3: tickTime: "abc" is not a number`},
		{"missing dataDir", map[string]string{"zoo.cfg": "clientPort=2181\n"}, "DIR/zoo.cfg: dataDir: is not set"},
		{"ensemble without myid", map[string]string{"zoo.cfg": ensembleCfg},
			"DIR/zoo.cfg:4: dataDir: myid file is missing: a server in an ensemble needs its id in DIR/data/myid"},
		{"myid not a number", map[string]string{"zoo.cfg": ensembleCfg, "data/myid": "one\n"},
			`DIR/data/myid: "one" is not a server id (a number >= 0)`},
		{"empty myid", map[string]string{"zoo.cfg": ensembleCfg, "data/myid": ""},
			`DIR/data/myid: "" is not a server id (a number >= 0)`},
		{"myid not listed", map[string]string{"zoo.cfg": ensembleCfg, "data/myid": "7"},
			"DIR/zoo.cfg:4: dataDir: myid 7 has no server.7 line"},
		{"client port conflicts with server line", map[string]string{
			"zoo.cfg": "initLimit=5\nsyncLimit=2\ndataDir=DIR/d\nclientPort=2181\nserver.1=a:1:2;2182\nserver.2=b:1:2\nserver.3=c:1:2\n",
			"d/myid":  "1",
		}, "DIR/zoo.cfg:5: server.1: client address 0.0.0.0:2182 differs from clientPortAddress/clientPort 0.0.0.0:2181"},
		{"client host conflicts with server line", map[string]string{
			"zoo.cfg": "initLimit=5\nsyncLimit=2\ndataDir=DIR/d\nclientPort=2181\nclientPortAddress=10.0.0.9\nserver.1=a:1:2;10.0.0.1:2181\nserver.2=b:1:2\nserver.3=c:1:2\n",
			"d/myid":  "1",
		}, "server.1: client address 10.0.0.1:2181 differs from clientPortAddress/clientPort 10.0.0.9:2181"},
		{"missing dynamic file", map[string]string{"zoo.cfg": "dataDir=/d\ndynamicConfigFile=DIR/nope\n"},
			"DIR/zoo.cfg: dynamicConfigFile: open DIR/nope: no such file or directory"},
		{"version inside dynamic file", map[string]string{
			"zoo.cfg": "dataDir=/d\ndynamicConfigFile=DIR/dyn.1\n", "dyn.1": "server.1=a:1:2\nversion=1\n",
		}, "DIR/dyn.1:2: version: must not be in the dynamic config file"},
		{"other key in dynamic file", map[string]string{
			"zoo.cfg": "dataDir=/d\ndynamicConfigFile=DIR/dyn.1\n", "dyn.1": "tickTime=1\n",
		}, "DIR/dyn.1:1: tickTime: only server lines belong in the dynamic config file"},
		{"bad server line in dynamic file", map[string]string{
			"zoo.cfg": "dataDir=/d\ndynamicConfigFile=DIR/dyn.1\n", "dyn.1": "server.1=a:1\n",
		}, `DIR/dyn.1:1: server.1: "a:1" is not of the form`},
		{"dynamic ensemble without initLimit", map[string]string{
			"zoo.cfg": "dataDir=DIR/d\ndynamicConfigFile=DIR/dyn.1\n", "dyn.1": "server.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n", "d/myid": "1",
		}, "DIR/zoo.cfg: initLimit: is not set; an ensemble needs it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{}
			for name, content := range tt.files {
				files[name] = strings.ReplaceAll(content, "DIR", dir)
			}
			writeFiles(t, dir, files)
			_, _, err := Load(filepath.Join(dir, "zoo.cfg"))
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want it to contain %q", err, want)
			}
		})
	}
}

func TestLoadRelativeDataDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"conf/zoo.cfg": ensembleCfg + "dataDir=./data\ndataLogDir=logs\n",
		"data/myid":    "1",
	})
	t.Chdir(dir) // Java resolves relative paths against the working directory
	c, warnings, err := Load("conf/zoo.cfg")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.DataDir != filepath.Join(dir, "data") || c.DataLogDir != filepath.Join(dir, "logs") {
		t.Errorf("DataDir=%q DataLogDir=%q", c.DataDir, c.DataLogDir)
	}
	if c.MyID != 1 {
		t.Errorf("MyID = %d, want 1 from the resolved dataDir", c.MyID)
	}
	want := []string{
		"conf/zoo.cfg:9: dataDir overrides the value set on line 4",
		`conf/zoo.cfg: dataDir "./data" is relative; using "` + filepath.Join(dir, "data") + `"`,
		`conf/zoo.cfg: dataLogDir "logs" is relative; using "` + filepath.Join(dir, "logs") + `"`,
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings:\n got  %q\n want %q", warnings, want)
	}
	if c.TickTime != 2*time.Second {
		t.Errorf("TickTime = %v", c.TickTime)
	}
}

func TestReadMyID(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content string
		want    int64
		err     string
	}{
		{"1", 1, ""},
		{"255\n", 255, ""},
		{"\t42 \r\n", 42, ""},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"0", 0, ""},
		{"-1", NoServerID, "is not a server id"},
		{"1 2", NoServerID, "is not a server id"},
		{"\n1", NoServerID, "is not a server id"},
		{"0x1", NoServerID, "is not a server id"},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, "myid"+string(rune('a'+i)))
		writeFiles(t, dir, map[string]string{filepath.Base(path): tt.content})
		got, err := ReadMyID(path)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || got != NoServerID {
				t.Errorf("ReadMyID(%q) = %d, %v; want error %q", tt.content, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ReadMyID(%q) = %d, %v; want %d", tt.content, got, err, tt.want)
		}
	}
	if _, err := ReadMyID(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing myid: %v, want fs.ErrNotExist", err)
	}
}
