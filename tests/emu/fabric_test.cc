// SPDX-License-Identifier: MIT
// Fabric description files: the documented example, and every error with
// its line number.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <unistd.h>

extern "C" {
#include "fabric.h"
}

namespace {

const char kExample[] =
	"# the example of docs/fabric.md\n"
	"fabric name=demo broadcast=on            # properties (broadcast on/off)\n"
	"switch sw0 ports=4\n"
	"endpoint a ula=02:00:00:00:00:0a ip=10.0.0.1   # ula optional: the switch assigns one\n"
	"endpoint b ip=10.0.0.2 harp-server=on\n"
	"\n"
	"cable a.0 sw0.0 shm\n"
	"cable b.0 sw0.1 udp filter=drop=0.05,seed=3+disorder=0.1+tap=b.pcap\n"
	"harp servers=b                            # optional\n";

struct Parsed {
	gsn_fabric *f = nullptr;
	gsn_fabric_error err{};
	int rc;
	explicit Parsed(const std::string &text) : rc(gsn_fabric_parse(text.data(), text.size(), &f, &err)) {}
	~Parsed() { gsn_fabric_free(f); }
};

TEST(FabricParse, AcceptsTheExample)
{
	Parsed p(kExample);
	ASSERT_EQ(p.rc, 0) << p.err.line << ": " << p.err.msg;
	const gsn_fabric *f = p.f;
	EXPECT_STREQ(f->name, "demo");
	EXPECT_TRUE(f->broadcast);
	ASSERT_EQ(f->n_elements, 3u);
	EXPECT_STREQ(f->elements[0].name, "sw0");
	EXPECT_EQ(f->elements[0].role, GSN_FABRIC_SWITCH);
	EXPECT_EQ(f->elements[0].ports, 4u);
	EXPECT_FALSE(f->elements[0].has_ula);
	EXPECT_EQ(f->elements[0].used_ports, 3u);
	const gsn_fabric_element &a = f->elements[1];
	EXPECT_EQ(a.role, GSN_FABRIC_ENDPOINT);
	EXPECT_EQ(a.ports, 1u);
	ASSERT_TRUE(a.has_ula);
	const uint8_t ula[6] = {2, 0, 0, 0, 0, 0x0a};
	EXPECT_EQ(memcmp(a.ula, ula, 6), 0);
	ASSERT_TRUE(a.has_ip);
	const uint8_t ip[4] = {10, 0, 0, 1};
	EXPECT_EQ(memcmp(a.ip, ip, 4), 0);
	EXPECT_FALSE(a.harp_server);
	EXPECT_EQ(a.line, 4u);
	EXPECT_TRUE(f->elements[2].harp_server);
	EXPECT_FALSE(f->elements[2].has_ula);
	ASSERT_EQ(f->n_cables, 2u);
	EXPECT_EQ(f->cables[0].type, GSN_FABRIC_SHM);
	EXPECT_EQ(f->cables[0].filter, nullptr);
	EXPECT_EQ(f->cables[0].end[0].element, 1u);
	EXPECT_EQ(f->cables[0].end[1].element, 0u);
	EXPECT_EQ(f->cables[0].end[1].port, 0u);
	EXPECT_EQ(f->cables[1].type, GSN_FABRIC_UDP);
	ASSERT_NE(f->cables[1].filter, nullptr);
	EXPECT_STREQ(f->cables[1].filter, "drop=0.05,seed=3+disorder=0.1+tap=b.pcap");
	EXPECT_EQ(f->cables[1].line, 8u);
	ASSERT_EQ(f->n_harp_servers, 1u);
	EXPECT_EQ(f->harp_servers[0], 2u);
	int end = -1;
	EXPECT_EQ(gsn_fabric_port_cable(f, 0, 1, &end), &f->cables[1]);
	EXPECT_EQ(end, 1);
	EXPECT_EQ(gsn_fabric_port_cable(f, 0, 3, &end), nullptr);
	EXPECT_EQ(gsn_fabric_find(f, "b"), 2);
	EXPECT_EQ(gsn_fabric_find(f, "c"), -1);
}

TEST(FabricParse, DefaultsAndLayout)
{
	Parsed p("switch s\r\n\tendpoint\te1   # tabs, CRLF\r\ncable e1.0 s.7 udp\n");
	ASSERT_EQ(p.rc, 0) << p.err.line << ": " << p.err.msg;
	EXPECT_STREQ(p.f->name, "fabric");
	EXPECT_TRUE(p.f->broadcast);
	EXPECT_EQ(p.f->elements[0].ports, GSN_FABRIC_SWITCH_PORTS);
	EXPECT_EQ(p.f->n_harp_servers, 0u);
	Parsed q("fabric broadcast=off\nendpoint x\n"); // no trailing cable, no newline issues
	ASSERT_EQ(q.rc, 0);
	EXPECT_FALSE(q.f->broadcast);
}

struct Bad {
	const char *text;
	unsigned line;
	const char *msg;
};

TEST(FabricParse, RejectsErrorsWithTheirLineNumber)
{
	const Bad cases[] = {
		{"endpoint a\nendpoint a\n", 2, "duplicate element name 'a'"},
		{"switch s\nswitch t\nendpoint a\ncable a.0 x.0 shm\n", 4, "cable: unknown element 'x'"},
		{"switch s ports=4\nendpoint a\ncable a.0 s.4 shm\n", 3,
		 "cable: port '4' of s out of range (0..3)"},
		{"endpoint a\nendpoint b\ncable a.1 b.0 shm\n", 3, "cable: port '1' of a out of range (0..0)"},
		{"switch s\nendpoint a\nendpoint b\ncable a.0 s.0 shm\ncable b.0 s.0 udp\n", 5,
		 "cable: port s.0 already has a cable"},
		{"endpoint a\ncable a.0 a.0 shm\n", 2, "cable: port a.0 already has a cable"},
		{"endpoint a ula=02:00:00:00:00\n", 1, "bad ULA '02:00:00:00:00' (want xx:xx:xx:xx:xx:xx)"},
		{"endpoint a ula=03:00:00:00:00:01\n", 1,
		 "bad ULA '03:00:00:00:00:01': a group (multicast/broadcast) address"},
		{"endpoint a ula=02:00:00:00:00:01\nendpoint b ula=2:0:0:0:0:1\n", 2,
		 "ULA 2:0:0:0:0:1 already used by 'a'"},
		{"endpoint a ip=10.0.0.256\n", 1, "bad IP address '10.0.0.256' (want A.B.C.D)"},
		{"endpoint a ip=224.0.0.1\n", 1, "bad IP address '224.0.0.1': not a unicast host address"},
		{"endpoint a ip=10.0.0.1\n\nendpoint b ip=10.0.0.1\n", 3,
		 "IP address 10.0.0.1 already used by 'a'"},
		{"fabric name=x\nfabric name=y\n", 2, "second 'fabric' statement"},
		{"fabric broadcast=maybe\n", 1, "fabric: broadcast: want on or off"},
		{"fabric colour=blue\n", 1, "fabric: unknown property 'colour'"},
		{"router r\n", 1, "unknown statement 'router'"},
		{"switch s ports=65\n", 1, "switch s: ports: want 1..64"},
		{"switch s ports=0\n", 1, "switch s: ports: want 1..64"},
		{"endpoint a ports=2\n", 1, "endpoint a: ports: want 1..1"},
		{"switch s ip=10.0.0.1\n", 1, "switch: unknown property 'ip'"},
		{"endpoint a ula=02:00:00:00:00:01 ula=02:00:00:00:00:02\n", 1, "'ula' given twice"},
		{"endpoint 9a\n", 1, "bad element name '9a' (letters, digits, '_', '-'; at most 31)"},
		{"endpoint a.b\n", 1, "bad element name 'a.b' (letters, digits, '_', '-'; at most 31)"},
		{"endpoint\n", 1, "endpoint: want a name"},
		{"endpoint a\nendpoint b\ncable a.0 b.0 tcp\n", 3, "cable: type 'tcp': want shm or udp"},
		{"endpoint a\nendpoint b\ncable a.0 b.0\n", 3,
		 "cable: want 'cable ELEMENT.PORT ELEMENT.PORT shm|udp [filter=SPEC]'"},
		{"endpoint a\nendpoint b\ncable a b.0 shm\n", 3, "cable: 'a': want element.port"},
		{"endpoint a\nendpoint b\ncable a.0 b.0 shm filter=drop=2\n", 3,
		 "cable: filter: layer 1: drop: want a probability 0..1"},
		{"endpoint a\nendpoint b\ncable a.0 b.0 shm speed=fast\n", 3,
		 "cable: unknown property 'speed'"},
		{"endpoint a\nharp servers=a\n", 2, "harp: 'a' is not an endpoint with harp-server=on"},
		{"harp servers=z\n", 1, "harp: unknown element 'z'"},
		{"endpoint a harp-server=on\nharp servers=a,a\n", 2, "harp: server 'a' listed twice"},
		{"endpoint a harp-server=on\nharp servers=a\nharp servers=a\n", 3, "second 'harp' statement"},
		{"harp\n", 1, "harp: want servers=NAME[,NAME...]"},
		{"endpoint a harp-server=yes\n", 1, "endpoint a: harp-server: want on or off"},
		{"# nothing\n\n", 0, "no elements"},
		{"endpoint a b c d e f g h i j k l m n o p q\n", 1, "more than 16 words"},
		{"endpoint a\n\x01\n", 2, "control character 0x01 in the text"},
	};
	for (const Bad &b : cases) {
		Parsed p(b.text);
		EXPECT_EQ(p.rc, -EINVAL) << b.text;
		EXPECT_EQ(p.f, nullptr);
		EXPECT_EQ(p.err.line, b.line) << b.text;
		EXPECT_STREQ(p.err.msg, b.msg) << b.text;
	}
}

TEST(FabricParse, BoundsOnUntrustedInput)
{
	std::string nul("endpoint a\nendpoint b\0\n", 23);
	Parsed p1(nul);
	EXPECT_EQ(p1.err.line, 2u);
	EXPECT_STREQ(p1.err.msg, "NUL byte in the text");

	Parsed p2("endpoint a\n" + std::string(GSN_FABRIC_LINE_MAX + 1, ' ') + "\n");
	EXPECT_EQ(p2.err.line, 2u);
	EXPECT_STREQ(p2.err.msg, "line longer than 1024 bytes");

	std::string many;
	for (unsigned i = 0; i <= GSN_FABRIC_ELEMENTS_MAX; i++)
		many += "endpoint e" + std::to_string(i) + "\n";
	Parsed p3(many);
	EXPECT_EQ(p3.err.line, GSN_FABRIC_ELEMENTS_MAX + 1);
	EXPECT_STREQ(p3.err.msg, "more than 256 elements");

	std::string longname(GSN_FABRIC_NAME_MAX + 1, 'n');
	Parsed p4("endpoint " + longname + "\n");
	EXPECT_EQ(p4.rc, -EINVAL);

	Parsed p5(std::string(GSN_FABRIC_FILE_MAX + 1, '\n'));
	EXPECT_STREQ(p5.err.msg, "file larger than 1048576 bytes");
}

TEST(FabricLoad, ReadsAFileAndReportsMissingOnes)
{
	std::string path = "/tmp/gsn-fabric-test-" + std::to_string(getpid()) + ".fabric";
	FILE *f = fopen(path.c_str(), "w");
	ASSERT_NE(f, nullptr);
	fputs(kExample, f);
	fclose(f);
	gsn_fabric *fab = nullptr;
	gsn_fabric_error err{};
	ASSERT_EQ(gsn_fabric_load(path.c_str(), &fab, &err), 0) << err.msg;
	EXPECT_EQ(fab->n_elements, 3u);
	gsn_fabric_free(fab);
	unlink(path.c_str());
	EXPECT_EQ(gsn_fabric_load(path.c_str(), &fab, &err), -ENOENT);
	EXPECT_EQ(err.line, 0u);
	EXPECT_STREQ(err.msg, "cannot open: No such file or directory");
	EXPECT_EQ(gsn_fabric_load("/tmp", &fab, &err), -EINVAL);
}

} // namespace
