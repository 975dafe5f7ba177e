// GenGolden regenerates the golden files of package auth by running the real
// ZooKeeper 3.8 classes (DigestAuthenticationProvider, IPAuthenticationProvider,
// PrepRequestProcessor.fixupACL, AuthUtil) and the JDK (UTF-8 decoding,
// ConcurrentHashMap order), so that the Go code is checked against Java
// behaviour rather than a second copy of our own reasoning.
//
// Run from this directory (JDK 11+ single-file launch):
//
//	CP=/usr/share/java/zookeeper-3.8.0.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar
//	java -Dfile.encoding=UTF-8 -cp $CP GenGolden.java
//
// It writes decode.golden, digest.golden, ip.golden, authinfo.golden and
// fixup.golden. The Go tests read only those files; they never need Java.
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.server.PrepRequestProcessor;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;
import org.apache.zookeeper.server.auth.IPAuthenticationProvider;
import org.apache.zookeeper.server.util.AuthUtil;

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

    // Byte strings exercising the UTF-8 decoder: valid text, each kind of
    // malformed sequence, and truncations at the end of input.
    static final String[] DECODE = {
        "", "61", "c3a9", "e282ac", "f09f9880", "00",
        "ff", "80", "c0af", "c1bf", "c2", "c241", "e2", "e282", "e28241", "e241",
        "e08080", "e09f80", "e0a080", "eda080", "edbfbf", "ed9fbf", "ef bfbf",
        "f0", "f09f", "f09f98", "f09f9841", "f08f8080", "f0908080", "f4908080",
        "f48fbfbf", "f5808080", "f8808080", "f09f41", "f041", "e2824161",
        "61ff62", "c3", "c3c3a9", "e282e282ac", "f09ff09f9880", "ed", "eda0",
        "f4", "f490", "f48f", "f48fbf", "e0", "e0a0", "e080",
    };

    // Auth packet payloads for the digest provider.
    static final String[] DIGEST = {
        "super:admin", "user:password", "user:", ":password", "user", "", "a:b:c",
        "\u00fcser:p\u00e4ss", "user:\uD83D\uDE00",
    };
    static final String[] DIGEST_HEX = {"757365723aff", "ff3a70", "c3"};

    // {aclExpr} for isValid; {aclExpr, clientAddress} for matches.
    static final String[] IP_VALID = {
        "127.0.0.1", "10.0.0.0/8", "10.0.0.0/0", "10.0.0.0/32", "10.0.0.0/33", "10.0.0.0/-1",
        "10.0.0.0/", "10.0.0.0/a", "1.2.3", "1.2.3.4.5", "1.2.3.4.", ".1.2.3", "256.0.0.1",
        "-1.0.0.1", "+1.2.3.4", "01.002.0003.4", "1.2.3.4/+8", "1.2.3.4/08", "::1", "0:0:0:0:0:0:0:1",
        "fe80::1/64", "", "/8", "1.2.3.4/8/9", "\u0661.2.3.4", "1.2.3.\uff14", "1..3.4", " 1.2.3.4",
        "1.2.3.4 ", "2147483648.0.0.1", "1.2.3.4/2147483648",
    };
    static final String[][] IP_MATCH = {
        {"127.0.0.1", "127.0.0.1"}, {"127.0.0.1", "127.0.0.2"}, {"10.0.0.0/8", "10.200.3.4"},
        {"10.0.0.0/8", "11.0.0.1"}, {"10.1.2.3/8", "10.9.9.9"}, {"192.168.1.0/24", "192.168.1.77"},
        {"192.168.1.0/24", "192.168.2.1"}, {"192.168.1.0/23", "192.168.0.1"}, {"192.168.1.0/23", "192.168.2.1"},
        {"172.16.0.0/12", "172.31.255.255"}, {"172.16.0.0/12", "172.32.0.0"}, {"0.0.0.0/0", "8.8.8.8"},
        {"1.2.3.4/33", "1.2.3.4"}, {"1.2.3.4", "0:0:0:0:0:0:0:1"}, {"::1", "0:0:0:0:0:0:0:1"},
        {"1.2.3.4/31", "1.2.3.5"}, {"1.2.3.4/31", "1.2.3.6"}, {"1.2.3.4/7", "0.0.0.0"}, {"1.2.3.4/7", "2.0.0.0"},
        {"garbage", "1.2.3.4"}, {"1.2.3.4", "garbage"},
    };

    // Identity lists: the connection's ip id first, then auth ids, in the order
    // ServerCnxn.addAuthInfo received them.
    static final String[][] AUTHINFO = {
        {"ip:127.0.0.1"},
        {"ip:127.0.0.1", "digest:user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="},
        {"ip:10.1.2.3", "super:", "digest:super:xQJmxLMiHGwaqBvst5y6rkB6HQs="},
        {"ip:0:0:0:0:0:0:0:1", "digest:bob:abc=", "digest:alice:def=", "digest:carol:ghi="},
        {"ip:192.168.100.200", "digest:u1:x", "digest:u2:x", "digest:u3:x", "digest:u4:x", "digest:u5:x",
            "digest:u6:x", "digest:u7:x", "digest:u8:x", "digest:u9:x", "digest:u10:x", "digest:u11:x",
            "digest:u12:x", "digest:u13:x", "digest:u14:x", "digest:u15:x", "digest:u16:x", "digest:u17:x",
            "digest:u18:x", "digest:u19:x", "digest:u20:x", "digest:u21:x", "digest:u22:x", "digest:u23:x",
            "digest:u24:x", "digest:u25:x", "digest:u26:x", "digest:u27:x", "digest:u28:x", "digest:u29:x"},
        {"digest:a:1", "digest:b:2", "digest:a:1", "ip:1.1.1.1"},
    };

    // {identities (space separated), acl entries (perms,scheme,id separated by '|', entries by ' ')}.
    static final String[][] FIXUP = {
        {"ip:127.0.0.1", "31|world|anyone"},
        {"ip:127.0.0.1", ""},
        {"ip:127.0.0.1", "31|auth|"},
        {"ip:127.0.0.1 digest:user:hash=", "31|auth|"},
        {"ip:127.0.0.1 digest:user:hash=", "5|auth|whatever 1|world|anyone"},
        {"ip:127.0.0.1 super: digest:super:h=", "31|auth|"},
        {"ip:0:0:0:0:0:0:0:1 digest:b:2 digest:a:1 digest:c:3", "31|auth| 1|auth|"},
        {"ip:127.0.0.1", "31|world|anyone 31|world|anyone 1|world|anyone"},
        {"ip:127.0.0.1", "31|world|nobody"},
        {"ip:127.0.0.1", "31|digest|user:hash"},
        {"ip:127.0.0.1", "31|digest|user"},
        {"ip:127.0.0.1", "31|digest|user:hash:extra"},
        {"ip:127.0.0.1", "31|digest|user:hash:"},
        {"ip:127.0.0.1", "31|digest|:hash"},
        {"ip:127.0.0.1", "31|digest|user::"},
        {"ip:127.0.0.1", "31|ip|10.0.0.0/8"},
        {"ip:127.0.0.1", "31|ip|::1"},
        {"ip:127.0.0.1", "31|ip|10.0.0.0/40"},
        {"ip:127.0.0.1", "31|sasl|user"},
        {"ip:127.0.0.1", "31|x509|CN=x"},
        {"ip:127.0.0.1", "31|super|"},
        {"ip:127.0.0.1", "0|world|anyone 999|digest|a:b"},
        {"ip:127.0.0.1 digest:user:hash=", "31|digest|user:hash= 31|auth|"},
        {"ip:127.0.0.1", "31|world|anyone 31|auth|"},
    };

    static Id parseId(String s) {
        int i = s.indexOf(':');
        return new Id(s.substring(0, i), s.substring(i + 1));
    }

    static List<Id> authInfo(String[] ids) {
        Set<Id> set = Collections.newSetFromMap(new ConcurrentHashMap<Id, Boolean>());
        for (String s : ids) {
            if (!s.isEmpty()) {
                set.add(parseId(s));
            }
        }
        return new ArrayList<>(set);
    }

    static String idList(List<Id> ids) {
        StringBuilder sb = new StringBuilder();
        for (Id id : ids) {
            if (sb.length() > 0) {
                sb.append(' ');
            }
            sb.append(id.getScheme()).append(':').append(id.getId());
        }
        return sb.toString();
    }

    public static void main(String[] args) throws Exception {
        try (PrintWriter w = new PrintWriter("decode.golden", "UTF-8")) {
            w.println("# input bytes (hex)\tnew String(input, UTF_8) re-encoded (hex); - is empty");
            for (String in : DECODE) {
                byte[] b = unhex(in.replace(" ", ""));
                w.println(hex(b) + "\t" + hex(new String(b, StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8)));
            }
        }
        try (PrintWriter w = new PrintWriter("digest.golden", "UTF-8")) {
            w.println("# auth packet data (hex)\tid added by DigestAuthenticationProvider (hex of UTF-8)");
            List<byte[]> inputs = new ArrayList<>();
            for (String s : DIGEST) {
                inputs.add(s.getBytes(StandardCharsets.UTF_8));
            }
            for (String s : DIGEST_HEX) {
                inputs.add(unhex(s));
            }
            for (byte[] b : inputs) {
                String id = DigestAuthenticationProvider.generateDigest(new String(b, StandardCharsets.UTF_8));
                w.println(hex(b) + "\t" + hex(id.getBytes(StandardCharsets.UTF_8)));
            }
        }
        IPAuthenticationProvider ip = new IPAuthenticationProvider();
        try (PrintWriter w = new PrintWriter("ip.golden", "UTF-8")) {
            w.println("# valid <tab> aclExpr(hex) <tab> isValid | match <tab> aclExpr(hex) <tab> address <tab> matches");
            for (String e : IP_VALID) {
                w.println("valid\t" + hex(e.getBytes(StandardCharsets.UTF_8)) + "\t" + ip.isValid(e));
            }
            for (String[] m : IP_MATCH) {
                w.println("match\t" + hex(m[0].getBytes(StandardCharsets.UTF_8)) + "\t" + m[1] + "\t" + ip.matches(m[1], m[0]));
            }
        }
        try (PrintWriter w = new PrintWriter("authinfo.golden", "UTF-8")) {
            w.println("# ids in insertion order <tab> iteration order of the ConcurrentHashMap set <tab> whoAmI (scheme=user)");
            for (String[] ids : AUTHINFO) {
                List<Id> list = authInfo(ids);
                StringBuilder who = new StringBuilder();
                for (ClientInfo ci : AuthUtil.getClientInfos(list)) {
                    if (who.length() > 0) {
                        who.append(' ');
                    }
                    who.append(ci.getAuthScheme()).append('=').append(ci.getUser());
                }
                w.println(String.join(" ", ids) + "\t" + idList(list) + "\t" + who);
            }
        }
        try (PrintWriter w = new PrintWriter("fixup.golden", "UTF-8")) {
            w.println("# identities <tab> acl (perms|scheme|id ...) <tab> fixupACL result or INVALIDACL");
            for (String[] c : FIXUP) {
                List<Id> info = authInfo(c[0].split(" "));
                List<ACL> acl = new ArrayList<>();
                for (String e : c[1].split(" ")) {
                    if (e.isEmpty()) {
                        continue;
                    }
                    String[] p = e.split("\\|", -1);
                    acl.add(new ACL(Integer.parseInt(p[0]), new Id(p[1], p[2])));
                }
                String out;
                try {
                    StringBuilder sb = new StringBuilder();
                    for (ACL a : PrepRequestProcessor.fixupACL("/p", info, acl)) {
                        if (sb.length() > 0) {
                            sb.append(' ');
                        }
                        sb.append(a.getPerms()).append('|').append(a.getId().getScheme()).append('|').append(a.getId().getId());
                    }
                    out = sb.toString();
                } catch (KeeperException.InvalidACLException e) {
                    out = "INVALIDACL";
                }
                w.println(c[0] + "\t" + c[1] + "\t" + out);
            }
        }
    }
}
