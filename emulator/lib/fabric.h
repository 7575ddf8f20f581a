/* SPDX-License-Identifier: MIT */
/*
 * Fabric description files (docs/fabric.md): one statement per line, '#'
 * starts a comment, tokens separated by blanks.
 *
 *	fabric name=demo broadcast=on
 *	switch sw0 ports=4
 *	endpoint a ula=02:00:00:00:00:0a ip=10.0.0.1
 *	endpoint b ip=10.0.0.2 harp-server=on
 *	cable a.0 sw0.0 shm
 *	cable b.0 sw0.1 udp filter=drop=0.05,seed=3+disorder=0.1+tap=b.pcap
 *	harp servers=b
 *
 * The input is untrusted: everything is bounded (GSN_FABRIC_*_MAX), and the
 * first error stops the parse with its line number and a message.
 * Elements must be declared before a cable or harp statement names them.
 */
#ifndef GSN_FABRIC_H
#define GSN_FABRIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GSN_FABRIC_FILE_MAX (1u << 20) /* bytes of a file */
#define GSN_FABRIC_LINE_MAX 1024u      /* bytes of a line, comment included */
#define GSN_FABRIC_TOKENS_MAX 16u      /* tokens of a statement */
#define GSN_FABRIC_NAME_MAX 31u        /* [A-Za-z][A-Za-z0-9_-]* */
#define GSN_FABRIC_ELEMENTS_MAX 256u
#define GSN_FABRIC_PORTS_MAX 64u       /* ports of a switch */
#define GSN_FABRIC_CABLES_MAX 1024u
#define GSN_FABRIC_HARP_MAX 8u         /* HARP servers */
#define GSN_FABRIC_SWITCH_PORTS 8u     /* default ports= of a switch */

enum gsn_fabric_role { GSN_FABRIC_ENDPOINT, GSN_FABRIC_SWITCH };
enum gsn_fabric_cable_type { GSN_FABRIC_SHM, GSN_FABRIC_UDP };

struct gsn_fabric_element {
	char name[GSN_FABRIC_NAME_MAX + 1];
	enum gsn_fabric_role role;
	unsigned ports;      /* endpoint: 1 */
	bool has_ula;        /* otherwise the switch assigns one */
	uint8_t ula[6];
	bool has_ip;
	uint8_t ip[4];       /* network order: ip[0] is A of A.B.C.D */
	bool harp_server;
	uint64_t used_ports; /* bit p: port p has a cable */
	unsigned line;
};

struct gsn_fabric_end {
	size_t element; /* index in elements */
	unsigned port;
};

struct gsn_fabric_cable {
	struct gsn_fabric_end end[2];
	enum gsn_fabric_cable_type type;
	char *filter;   /* filter spec (filter.h) for end[0], or NULL */
	unsigned line;
};

struct gsn_fabric {
	char name[GSN_FABRIC_NAME_MAX + 1]; /* default "fabric" */
	bool broadcast;                      /* default on */
	struct gsn_fabric_element *elements;
	size_t n_elements;
	struct gsn_fabric_cable *cables;
	size_t n_cables;
	size_t harp_servers[GSN_FABRIC_HARP_MAX]; /* element indices */
	size_t n_harp_servers;
};

struct gsn_fabric_error {
	unsigned line; /* 1-based; 0 for the file as a whole */
	char msg[256];
};

/*
 * Parses len bytes of text (no NUL needed).  On success *out is a new
 * fabric (gsn_fabric_free()) and 0 is returned; otherwise -EINVAL (or
 * -ENOMEM) with err filled.
 */
int gsn_fabric_parse(const char *text, size_t len, struct gsn_fabric **out,
		     struct gsn_fabric_error *err);
/* Reads and parses a file (at most GSN_FABRIC_FILE_MAX bytes). */
int gsn_fabric_load(const char *path, struct gsn_fabric **out, struct gsn_fabric_error *err);
void gsn_fabric_free(struct gsn_fabric *f);

/* Index of the element called name, or -1. */
long gsn_fabric_find(const struct gsn_fabric *f, const char *name);
/* The cable on element e's port p and which end of it that is (0, 1), or NULL. */
const struct gsn_fabric_cable *gsn_fabric_port_cable(const struct gsn_fabric *f, size_t e,
						     unsigned p, int *end);

const char *gsn_fabric_role_name(enum gsn_fabric_role r);       /* "endpoint", "switch" */
const char *gsn_fabric_cable_type_name(enum gsn_fabric_cable_type t); /* "shm", "udp" */

#ifdef __cplusplus
}
#endif

#endif /* GSN_FABRIC_H */
