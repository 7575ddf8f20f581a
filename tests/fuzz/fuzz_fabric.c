/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: a fabric description file (emulator/lib/fabric.h).
 * Whatever parses must satisfy the parser's promises: bounded counts, every
 * cable end names a declared element and a port in range used once, every
 * HARP server an endpoint with harp-server=on; a failure names a line
 * within the input and a non-empty message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fabric.h"

static void check_fabric(const struct gsn_fabric *f)
{
	uint64_t seen[GSN_FABRIC_ELEMENTS_MAX] = {0};

	if (f->n_elements == 0 || f->n_elements > GSN_FABRIC_ELEMENTS_MAX ||
	    f->n_cables > GSN_FABRIC_CABLES_MAX || f->n_harp_servers > GSN_FABRIC_HARP_MAX)
		abort();
	for (size_t i = 0; i < f->n_elements; i++) {
		const struct gsn_fabric_element *e = &f->elements[i];

		if (e->ports == 0 || e->ports > GSN_FABRIC_PORTS_MAX || !e->name[0] ||
		    gsn_fabric_find(f, e->name) != (long)i)
			abort();
	}
	for (size_t i = 0; i < f->n_cables; i++)
		for (int j = 0; j < 2; j++) {
			const struct gsn_fabric_end *end = &f->cables[i].end[j];

			if (end->element >= f->n_elements ||
			    end->port >= f->elements[end->element].ports ||
			    (seen[end->element] & (1ull << end->port)))
				abort();
			seen[end->element] |= 1ull << end->port;
		}
	for (size_t i = 0; i < f->n_elements; i++)
		if (seen[i] != f->elements[i].used_ports)
			abort();
	for (size_t i = 0; i < f->n_harp_servers; i++)
		if (f->harp_servers[i] >= f->n_elements ||
		    !f->elements[f->harp_servers[i]].harp_server)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gsn_fabric *f = NULL;
	struct gsn_fabric_error err;
	size_t lines = 1;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (gsn_fabric_parse((const char *)data, size, &f, &err) == 0) {
		check_fabric(f);
		gsn_fabric_free(f);
		return 0;
	}
	if (f || !err.msg[0] || err.line > lines || strlen(err.msg) >= sizeof(err.msg))
		abort();
	return 0;
}
