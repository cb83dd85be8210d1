/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * a_list.h - a doubly linked list with a head, in the style of the
 * kernel's list.h (zus's a_list).
 */
#ifndef ZUS_A_LIST_H
#define ZUS_A_LIST_H

#include <stddef.h>

struct a_list_head {
	struct a_list_head *prev;
	struct a_list_head *next;
};

static inline void a_list_init(struct a_list_head *list)
{
	list->next = list;
	list->prev = list;
}

static inline void __a_list_link(struct a_list_head *entry,
				 struct a_list_head *prev,
				 struct a_list_head *next)
{
	next->prev = entry;
	entry->next = next;
	entry->prev = prev;
	prev->next = entry;
}

/* after head */
static inline void a_list_add(struct a_list_head *entry,
			      struct a_list_head *head)
{
	__a_list_link(entry, head, head->next);
}

/* before head (at the tail) */
static inline void a_list_add_tail(struct a_list_head *entry,
				   struct a_list_head *head)
{
	__a_list_link(entry, head->prev, head);
}

static inline void a_list_del(struct a_list_head *entry)
{
	entry->next->prev = entry->prev;
	entry->prev->next = entry->next;
}

static inline void a_list_del_init(struct a_list_head *entry)
{
	a_list_del(entry);
	a_list_init(entry);
}

static inline int a_list_empty(const struct a_list_head *head)
{
	return head->next == head;
}

#ifndef container_of
#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

#define a_list_first_entry(ptr, type, member)                                  \
	container_of((ptr)->next, type, member)

#define a_list_next_entry(pos, member)                                         \
	container_of((pos)->member.next, __typeof__(*(pos)), member)

#define a_list_for_each_entry(pos, head, member)                               \
	for (pos = a_list_first_entry(head, __typeof__(*pos), member);        \
	     &pos->member != (head); pos = a_list_next_entry(pos, member))

#endif /* ZUS_A_LIST_H */
