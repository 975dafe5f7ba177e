// GenGolden regenerates the golden files of package prep from the real
// ZooKeeper 3.8 PathUtils and the JDK's HashSet, so that the Go code is
// checked against Java behaviour rather than a second copy of our own
// reasoning.
//
// Run from this directory (JDK 11+ single-file launch):
//
//	CP=/usr/share/java/zookeeper-3.8.0.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar
//	java -Dfile.encoding=UTF-8 -cp $CP GenGolden.java
//
// It writes paths.golden and ephemerals.golden. The Go tests read only
// those files; they never need Java.
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import org.apache.zookeeper.common.PathUtils;

public class GenGolden {
    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xff));
        }
        return sb.length() == 0 ? "-" : sb.toString();
    }

    static byte[] unhex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    static final String[] PATHS = {
        "", "/", "//", "a", "a/b", "/a", "/a/", "/a/b", "/a//b", "/.", "/..", "/...", "/a/.", "/a/..", "/a/./b",
        "/a/../b", "/.a", "/a.", "/..a", "/a..", "/a/.b/..c", "/a b", "/a\tb", "/a\u0001", "/a\u001f", "/a\u0020",
        "/a\u007e", "/a\u007f", "/a\u0080", "/a\u009f", "/a\u00a0", "/\u00e9t\u00e9", "/\u4e2d\u6587",
        "/a\ud7ff", "/a\uf8ff", "/a\uf900", "/a\ufeff", "/a\uffef", "/a\ufff0", "/a\ufffd", "/a\uffff",
        "/\ud83d\ude00", "/a/b/c/d/e/f", "/zookeeper", "/zookeeper/quota", "/a:b", "/a%b", "/*", "/a\\b",
        "/./a", "/a/.../b", "/ ", "/.. ", "/ ..",
    };
    // Raw byte paths (hex), as a client may send them: not all UTF-8.
    static final String[] RAW_PATHS = {
        "2f00", "2f6100", "2f61ff", "2fc0af", "2feda080", "2ff09f9880", "2f612f2e2e", "2fe282ac", "ff2f61",
    };

    // Ephemeral paths of a session in creation order, then changes from
    // outstanding txns (+path adds, -path removes).
    static final String[][] EPHEMERALS = {
        {},
        {"/e"},
        {"/lock/n0000000001"},
        {"/a", "/b", "/c", "/d", "/e"},
        {"/app/members/m1", "/app/members/m2", "/app/members/m3", "/app/members/m4", "/app/members/m5",
            "/app/members/m6", "/app/members/m7", "/app/members/m8", "/app/members/m9", "/app/members/m10",
            "/app/members/m11", "/app/members/m12", "/app/members/m13"},
        {"/a", "/b", "+/c", "-/a", "+/d"},
        {"-/nothing", "+/x", "+/y", "+/x", "-/x"},
        {"/p1", "/p2", "/p3", "/p4", "/p5", "/p6", "/p7", "/p8", "/p9", "/p10", "/p11", "/p12", "+/q1", "+/q2",
            "+/q3", "+/q4", "+/q5", "+/q6", "+/q7", "+/q8", "+/q9", "+/q10", "+/q11", "+/q12", "+/q13", "+/q14"},
        {"/\u00e9", "/\u4e2d", "/aa", "/bB", "/C#"},
    };

    static void validate(PrintWriter w, byte[] raw) {
        String path = new String(raw, StandardCharsets.UTF_8);
        String plain = "ok";
        String seq = "ok";
        try {
            PathUtils.validatePath(path);
        } catch (IllegalArgumentException e) {
            plain = "bad";
        }
        try {
            PathUtils.validatePath(path, true);
        } catch (IllegalArgumentException e) {
            seq = "bad";
        }
        w.println(hex(raw) + "\t" + plain + "\t" + seq);
    }

    public static void main(String[] args) throws Exception {
        try (PrintWriter w = new PrintWriter("paths.golden", "UTF-8")) {
            w.println("# path bytes (hex; - is empty)\tvalidatePath(path)\tvalidatePath(path, true)");
            for (String p : PATHS) {
                validate(w, p.getBytes(StandardCharsets.UTF_8));
            }
            for (String p : RAW_PATHS) {
                validate(w, unhex(p));
            }
        }
        try (PrintWriter w = new PrintWriter("ephemerals.golden", "UTF-8")) {
            w.println("# tree ephemerals in creation order and outstanding changes (+add, -remove), space separated"
                + "\titeration order of the cloned HashSet after the changes");
            for (String[] c : EPHEMERALS) {
                HashSet<String> tree = new HashSet<>();
                List<String> ops = new ArrayList<>();
                for (String s : c) {
                    if (s.startsWith("+") || s.startsWith("-")) {
                        ops.add(s);
                    } else {
                        tree.add(s);
                    }
                }
                @SuppressWarnings("unchecked")
                HashSet<String> es = (HashSet<String>) tree.clone();
                for (String op : ops) {
                    if (op.startsWith("+")) {
                        es.add(op.substring(1));
                    } else {
                        es.remove(op.substring(1));
                    }
                }
                w.println(String.join(" ", c) + "\t" + String.join(" ", es));
            }
        }
    }
}
