"""Seeded synthetic history: users, groups, memberships, conversations and a time-ordered message stream.

Everything derives from `random.Random(config.seed)` and `config.end_time`; the wall clock is never read.
Message rows are produced in generation order, then sorted once by (sentAt, dependency depth, sequence) so
that ids increase with time and a reply, edit or delete never precedes what it refers to.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterable, Iterator

from .config import EmulatorConfig
from .model import (
    APP_SYSTEM,
    FLAG_MENTION,
    FLAG_METADATA,
    FLAG_REACTIONS,
    FLAG_TAGS,
    KIND_MEMBER_ACTION,
    KIND_MESSAGE_ACTION,
    KIND_TEXT,
    SCOPES,
    Conversation,
    Dataset,
    Group,
    Member,
    MessageColumns,
    User,
    ViewerState,
)

DAY = 86_400
SEQ_BITS = 24  # generation sequence numbers live in the low bits of the sort key
USER_PREFIXES = ("cometchat-uid-", "data_eng_", "ops-team_", "sales-", "qa_bot-", "dev-team_")
GROUP_PREFIXES = ("cometchat-guid-", "project_", "team-", "data_eng-", "announce_")
FIRST_NAMES = (
    "Andrew", "George", "Nancy", "Susan", "John", "José", "Zoë", "Łukasz", "Aiko", "Björn", "Chloé", "Dmitri",
    "Émilie", "Fatima", "Günther", "Hana", "Ingrid", "Jürgen", "Kenji", "Leila", "Mateo", "Nadia", "Olga",
    "Priya", "Renée", "Søren", "Tomás", "Ümit", "Wei", "Yusuf", "李", "Анна", "محمد", "Σοφία",
)  # fmt: skip
LAST_NAMES = (
    "Joseph", "Alan", "Grace", "Marie", "Paul", "García", "Müller", "Kowalski", "Tanaka", "Øvergaard", "Dubois",
    "Ivanov", "Nguyễn", "O'Brien", "Smith-Jones", "Da Silva", "Ångström", "雷", "Петрова", "Haddad", "Παππάς",
)  # fmt: skip
NAME_EMOJI = ("🚀", "🌟", "🎧", "🐙", "☕", "🦄")
GROUP_NAMES = (
    "Project Group", "Hiking Club 🥾", "Data Engineering", "Support ☎️", "Équipe Produit", "Random",
    "Release Train 🚆", "Café Talk ☕", "東京 Office", "Öffentlichkeitsarbeit", "On-call 🔥", "Book Club 📚",
)  # fmt: skip
USER_TAGS = ("vip", "beta-tester", "Engineer", "manager", "früh", "🔥 power-user", "support", "sales")
GROUP_TAGS = ("friends", "project", "internal", "external", "größe", "🎉 fun", "archived")
CONVERSATION_TAGS = ("vip", "follow-up", "archived", "🔥 hot", "résolu", "escalated", "lead", "spam")
ROLES = ("default",) * 6 + ("manager", "admin-role")


def generate(config: EmulatorConfig) -> Dataset:
    return _Generator(config).run()


class _Generator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.end = int(config.end_time)
        self.span = max(1, int(config.span_days * DAY))
        self.start = self.end - self.span
        # Generation-order event columns; `depth` orders dependent events within one second.
        self.g_conv = array("i")
        self.g_sender = array("i")
        self.g_time = array("q")
        self.g_parent = array("i")
        self.g_kind = array("b")
        self.g_sub = array("b")
        self.g_extra = array("i")
        self.g_flags = array("b")
        self.g_depth = array("b")

    def run(self) -> Dataset:
        users = self._users()
        groups = self._groups(users)
        conversations = self._conversations(users, groups)
        self._events(users, groups, conversations)
        dataset = self._sorted_dataset(users, groups, conversations)
        self._viewer_states(dataset)
        return dataset

    # -- entities -----------------------------------------------------------------------------------------

    def _users(self) -> list[User]:
        rng, users = self.rng, []
        for i in range(self.cfg.users):
            uid = f"{rng.choice(USER_PREFIXES)}{i + 1}".lower()
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            if rng.random() < 0.15:
                name += f" {rng.choice(NAME_EMOJI)}"
            created = rng.randint(self.start - 60 * DAY, self.start + self.span // 20)
            user = User(
                index=i,
                uid=uid,
                name=name,
                avatar=f"https://assets.cometchat.io/sampleapp/v2/users/{uid}.webp",
                role=rng.choice(ROLES),
                status="available" if rng.random() < 0.2 else "offline",
                created_at=created,
            )
            if rng.random() < 0.3:
                user.link = f"https://example.com/people/{uid}"
            if rng.random() < 0.3:
                user.metadata = {"department": rng.choice(("R&D", "Sales", "Support")), "ñ": "✓"}
            if rng.random() < 0.2:
                user.status_message = rng.choice(("On vacation 🏖️", "Heads down", "Ask me about dlt"))
            if rng.random() < 0.5:
                user.updated_at = rng.randint(created, self.end)
            if rng.random() < 0.4:
                user.last_active_at = rng.randint(max(created, self.start), self.end)
            if rng.random() < self.cfg.tag_share:
                user.tags = sorted(rng.sample(USER_TAGS, rng.randint(1, 3)))
            users.append(user)
        return users

    def _groups(self, users: list[User]) -> list[Group]:
        rng, groups = self.rng, []
        if not users:
            return groups
        join_window = max(1, self.span // 10)
        for j in range(self.cfg.groups):
            guid = f"{rng.choice(GROUP_PREFIXES)}{j + 1}".lower()
            owner = rng.randrange(len(users))
            created = rng.randint(max(self.start, users[owner].created_at), self.start + self.span // 10)
            group = Group(
                index=j,
                guid=guid,
                name=f"{rng.choice(GROUP_NAMES)} {j + 1}",
                description=rng.choice(
                    ("project related discussions between members", "Ünïcödé ✨ talk", "")
                ),
                icon=f"https://assets.cometchat.io/sampleapp/v2/groups/{guid}.webp",
                type=rng.choices(("public", "private", "password"), weights=(6, 3, 1))[0],
                owner=owner,
                created_at=created,
            )
            if rng.random() < 0.6:
                group.updated_at = rng.randint(created, self.end)
                group.updated_by = owner
            if rng.random() < self.cfg.tag_share:
                group.tags = sorted(rng.sample(GROUP_TAGS, rng.randint(1, 3)))
            group.members[owner] = Member("admin", created)
            size = min(self.cfg.members_per_group, len(users))
            others = [u for u in range(len(users)) if u != owner]
            joined = []
            for u in rng.sample(others, max(0, size - 1)):
                lower = max(created, users[u].created_at)
                scope = rng.choices(SCOPES, weights=(7, 2, 1))[0]
                joined.append((rng.randint(lower, lower + join_window), u, scope))
            for joined_at, u, scope in sorted(joined):
                group.members[u] = Member(scope, joined_at)
            groups.append(group)
        return groups

    def _conversations(self, users: list[User], groups: list[Group]) -> list[Conversation]:
        conversations = [Conversation(g.index, g.conversation_id, True, g.index) for g in groups]
        n = len(users)
        if self.cfg.conversations_per_user:
            pairs: Iterable[tuple[int, int]] = self._circulant_pairs(n, self.cfg.conversations_per_user)
        else:
            pairs = sorted(self._random_pairs(n))
        for a, b in pairs:
            if users[a].uid > users[b].uid:
                a, b = b, a
            cid = f"{users[a].uid}_user_{users[b].uid}"
            conversations.append(Conversation(len(conversations), cid, False, a, b))
        return conversations

    def _random_pairs(self, n: int) -> set[tuple[int, int]]:
        wanted = min(self.cfg.effective_user_conversations, n * (n - 1) // 2)
        pairs: set[tuple[int, int]] = set()
        if wanted > n * (n - 1) // 4:
            every = [(a, b) for a in range(n) for b in range(a + 1, n)]
            pairs = set(self.rng.sample(every, wanted))
        while len(pairs) < wanted:
            a, b = self.rng.randrange(n), self.rng.randrange(n)
            if a != b:
                pairs.add((min(a, b), max(a, b)))
        return pairs

    def _circulant_pairs(self, n: int, k: int) -> Iterator[tuple[int, int]]:
        """Pairs that give every user exactly k partners (k - 1 when k and n are both odd).

        Users in a shuffled ring, each paired with the users k // 2 distinct offsets away (and, for an odd k,
        the one opposite): distinct pairs by construction, in O(n k) time, with no set of pairs in memory.
        """
        ring = list(range(n))
        self.rng.shuffle(ring)
        for offset in self.rng.sample(range(1, (n - 1) // 2 + 1), k // 2):
            for i in range(n):
                yield ring[i], ring[(i + offset) % n]
        if k % 2 and n % 2 == 0:
            for i in range(n // 2):
                yield ring[i], ring[i + n // 2]

    # -- the message stream -------------------------------------------------------------------------------

    def _emit(
        self,
        conv: int,
        sender: int,
        t: int,
        kind: int,
        depth: int,
        parent: int = -1,
        sub: int = 0,
        extra: int = -1,
        flags: int = 0,
    ) -> int:
        self.g_conv.append(conv)
        self.g_sender.append(sender)
        self.g_time.append(t)
        self.g_parent.append(parent)
        self.g_kind.append(kind)
        self.g_sub.append(sub)
        self.g_extra.append(extra)
        self.g_flags.append(flags)
        self.g_depth.append(depth)
        return len(self.g_time) - 1

    def _events(self, users: list[User], groups: list[Group], conversations: list[Conversation]) -> None:
        cfg = self.cfg
        # The last group stays silent so that some group conversations have no lastMessage.
        quiet = {groups[-1].index} if len(groups) >= 2 else set()
        action_budget = min(cfg.messages, round(cfg.messages * cfg.action_share))
        used = self._member_actions(users, groups, quiet, action_budget)
        remaining = cfg.messages - used
        factor = 1.0 + cfg.edited_share + cfg.deleted_share
        normal = int(remaining / factor)
        edits, deletes = int(normal * cfg.edited_share), int(normal * cfg.deleted_share)
        normal = remaining - edits - deletes
        talkative = [c for c in conversations if not (c.is_group and c.a in quiet)]
        if not talkative or normal <= 0:
            return
        replies = int(normal * cfg.reply_share)
        top = normal - replies
        if top == 0:
            top, replies = replies, 0
        first_normal = len(self.g_time)
        self._top_level(users, groups, talkative, top)
        self._replies(users, groups, conversations, first_normal, top, replies)
        self._edits_and_deletes(conversations, first_normal, normal, edits, deletes)

    def _member_actions(self, users: list[User], groups: list[Group], quiet: set[int], budget: int) -> int:
        """Join actions for members, scope changes, and join/leave pairs of former members, within budget."""
        rng, used = self.rng, 0
        joins = [
            (g, u, m) for g in groups if g.index not in quiet for u, m in g.members.items() if u != g.owner
        ]
        rng.shuffle(joins)
        promoted = []
        for g, u, member in joins[:budget]:
            if rng.random() < 0.5:
                self._emit(g.index, u, member.joined_at, KIND_MEMBER_ACTION, 0, sub=0, extra=u)
            else:
                by = g.owner if rng.random() < 0.7 else APP_SYSTEM
                self._emit(g.index, by, member.joined_at, KIND_MEMBER_ACTION, 0, sub=1, extra=u)
            used += 1
            if member.scope != "participant":
                promoted.append((g, u, member))
        for g, u, member in promoted:
            if used >= budget:
                return used
            t = rng.randint(member.joined_at, min(self.end, member.joined_at + self.span // 5))
            flags = (0 << 2) | SCOPES.index(member.scope)
            self._emit(g.index, g.owner, t, KIND_MEMBER_ACTION, 1, sub=4, extra=u, flags=flags)
            used += 1
        talkative = [g for g in groups if g.index not in quiet]
        attempts = 0
        while used + 2 <= budget and talkative and attempts < budget * 4:
            attempts += 1
            g = rng.choice(talkative)
            u = rng.randrange(len(users))
            if u in g.members:
                continue
            t1 = rng.randint(max(g.created_at, users[u].created_at), self.end)
            t2 = rng.randint(t1, min(self.end, t1 + 7 * DAY))
            first, second = rng.choice(((0, 3), (1, 2), (5, 6)))  # joined/left, added/kicked, banned/unbanned
            by = g.owner if rng.random() < 0.8 else APP_SYSTEM
            self._emit(g.index, u if first == 0 else by, t1, KIND_MEMBER_ACTION, 0, sub=first, extra=u)
            self._emit(g.index, u if second == 3 else by, t2, KIND_MEMBER_ACTION, 1, sub=second, extra=u)
            used += 2
        return used

    def _participants(
        self, users: list[User], groups: list[Group], conv: Conversation
    ) -> list[tuple[int, int]]:
        """(user index, earliest second they can write) for everyone who can write in the conversation."""
        if conv.is_group:
            return [(u, m.joined_at) for u, m in groups[conv.a].members.items()]
        lower = max(users[conv.a].created_at, users[conv.b].created_at, self.start)
        return [(conv.a, lower), (conv.b, lower)]

    def _content_flags(self, kind: int) -> int:
        rng, cfg = self.rng, self.cfg
        flags = 0
        if rng.random() < 0.15:
            flags |= FLAG_METADATA
        if rng.random() < cfg.reaction_share:
            flags |= FLAG_REACTIONS
        if rng.random() < cfg.tag_share:
            flags |= FLAG_TAGS
        if kind == KIND_TEXT and rng.random() < cfg.mention_share:
            flags |= FLAG_MENTION
        return flags

    def _kind(self) -> int:
        return 1 + self.rng.randrange(4) if self.rng.random() < self.cfg.attachment_share else KIND_TEXT

    def _mention(self, participants: list[tuple[int, int]], sender: int) -> int:
        others = [u for u, _ in participants if u != sender]
        return self.rng.choice(others) if others else -1

    def _top_level(
        self, users: list[User], groups: list[Group], talkative: list[Conversation], count: int
    ) -> None:
        rng = self.rng
        group_convs = [c for c in talkative if c.is_group]
        user_convs = [c for c in talkative if not c.is_group]
        group_participants = {c.index: self._participants(users, groups, c) for c in group_convs}
        # Every 1-on-1 conversation gets one message first, so that every one of them is listed.
        opening = iter(user_convs if self.cfg.conversations_per_user else ())
        if self.cfg.conversations_per_user and count < len(user_convs):
            raise ValueError(f"{count} top-level messages cannot open {len(user_convs)} conversations")
        # Quantise times onto a grid of ~count/3 slots so that many messages share one second.
        slots = max(1, count // 3)
        slot_len = max(1, self.span // slots)
        for _ in range(count):
            conv = next(opening, None)
            if conv is None:
                if group_convs and (not user_convs or rng.random() < 0.55):
                    conv = rng.choice(group_convs)
                else:
                    conv = rng.choice(user_convs)
            if conv.is_group:
                participants = group_participants[conv.index]
            else:
                participants = self._participants(users, groups, conv)
            sender, lower = rng.choice(participants)
            t = rng.randint(min(lower, self.end), self.end)
            t = min(self.end, self.start + -(-(t - self.start) // slot_len) * slot_len)
            kind = self._kind()
            flags = self._content_flags(kind)
            extra = -1
            if flags & FLAG_MENTION:
                extra = self._mention(participants, sender)
                if extra < 0:
                    flags &= ~FLAG_MENTION
            self._emit(conv.index, sender, t, kind, 0, extra=extra, flags=flags)

    def _replies(
        self,
        users: list[User],
        groups: list[Group],
        conversations: list[Conversation],
        first: int,
        top: int,
        count: int,
    ) -> None:
        rng = self.rng
        cache: dict[int, list[tuple[int, int]]] = {}
        for _ in range(count):
            parent = first + rng.randrange(top)
            conv = conversations[self.g_conv[parent]]
            if conv.index not in cache:
                cache[conv.index] = self._participants(users, groups, conv)
            sender = rng.choice(cache[conv.index])[0]
            delay = 0 if rng.random() < 0.35 else rng.randint(1, 6 * 3600)
            t = min(self.end, self.g_time[parent] + delay)
            kind = self._kind()
            flags = self._content_flags(kind)
            extra = -1
            if flags & FLAG_MENTION:
                extra = self._mention(cache[conv.index], sender)
                if extra < 0:
                    flags &= ~FLAG_MENTION
            self._emit(conv.index, sender, t, kind, 1, parent=parent, extra=extra, flags=flags)

    def _edits_and_deletes(
        self, conversations: list[Conversation], first: int, count: int, edits: int, deletes: int
    ) -> None:
        rng = self.rng
        edited_at: dict[int, int] = {}
        for target in rng.sample(range(first, first + count), min(edits, count)):
            delay = 0 if rng.random() < 0.2 else rng.randint(1, 2 * DAY)
            t = min(self.end, self.g_time[target] + delay)
            edited_at[target] = t
            self._emit(
                self.g_conv[target], self.g_sender[target], t, KIND_MESSAGE_ACTION, 2, sub=0, extra=target
            )
        targets = rng.sample(range(first, first + count), min(deletes, count))
        last = self._a_last_user_message(conversations, first, count)
        if targets and last >= 0 and last not in targets:
            targets[0] = last  # guarantees a conversation whose lastMessage is absent
        for target in targets:
            delay = 0 if rng.random() < 0.2 else rng.randint(1, 3 * DAY)
            t = min(self.end, max(self.g_time[target], edited_at.get(target, 0)) + delay)
            self._emit(
                self.g_conv[target], self.g_sender[target], t, KIND_MESSAGE_ACTION, 3, sub=1, extra=target
            )

    def _a_last_user_message(self, conversations: list[Conversation], first: int, count: int) -> int:
        """The newest top-level message of the first 1-on-1 conversation that has any."""
        best: dict[int, int] = {}
        for seq in range(first, first + count):
            if self.g_parent[seq] >= 0 or conversations[self.g_conv[seq]].is_group:
                continue
            conv = self.g_conv[seq]
            if conv not in best or self.g_time[seq] >= self.g_time[best[conv]]:
                best[conv] = seq
        return best[min(best)] if best else -1

    # -- final ordering -----------------------------------------------------------------------------------

    def _sorted_dataset(
        self, users: list[User], groups: list[Group], conversations: list[Conversation]
    ) -> Dataset:
        total = len(self.g_time)
        if total >= 1 << SEQ_BITS:
            raise ValueError(f"at most {(1 << SEQ_BITS) - 1} messages are supported")
        times, depths = self.g_time, self.g_depth
        keys = [((times[s] * 4 + depths[s]) << SEQ_BITS) | s for s in range(total)]
        keys.sort()
        mask = (1 << SEQ_BITS) - 1
        order = array("i", (key & mask for key in keys))
        del keys
        position = array("i", bytes(4 * total))
        for final, seq in enumerate(order):
            position[seq] = final

        columns = MessageColumns()
        columns.conv = array("i", (self.g_conv[s] for s in order))
        columns.sender = array("i", (self.g_sender[s] for s in order))
        columns.sent = array("q", (self.g_time[s] for s in order))
        columns.kind = array("b", (self.g_kind[s] for s in order))
        columns.sub = array("b", (self.g_sub[s] for s in order))
        columns.flags = array("b", (self.g_flags[s] for s in order))
        g_parent, g_extra, g_kind = self.g_parent, self.g_extra, self.g_kind
        columns.parent = array("i", (position[g_parent[s]] if g_parent[s] >= 0 else -1 for s in order))
        columns.extra = array(
            "i",
            (position[g_extra[s]] if g_kind[s] == KIND_MESSAGE_ACTION else g_extra[s] for s in order),
        )
        dataset = Dataset(users=users, groups=groups, conversations=conversations, messages=columns)
        self._index(dataset)
        return dataset

    @staticmethod
    def _index(dataset: Dataset) -> None:
        """Per-conversation lists, thread lists, edits/deletes and each conversation's newest eligible row."""
        columns = dataset.messages
        conversations = dataset.conversations
        kinds, parents, extras, subs = columns.kind, columns.parent, columns.extra, columns.sub
        for i, conv in enumerate(columns.conv):
            conversations[conv].messages.append(i)
            parent = parents[i]
            if parent >= 0:
                dataset.replies.setdefault(parent, array("i")).append(i)
            if kinds[i] == KIND_MESSAGE_ACTION:
                if subs[i] == 0:
                    dataset.edits.setdefault(extras[i], []).append((i, None))
                else:
                    dataset.deletes[extras[i]] = i
            elif parent < 0:
                conversations[conv].last_eligible = i

    def _viewer_states(self, dataset: Dataset) -> None:
        rng, cfg = self.rng, self.cfg
        for conv in dataset.conversations:
            if conv.is_group:
                viewers = list(dataset.groups[conv.a].members)
            elif len(conv.messages):
                viewers = [conv.a, conv.b]
            else:
                continue
            parents, kinds = dataset.messages.parent, dataset.messages.kind
            eligible = sum(1 for i in conv.messages if parents[i] < 0 and kinds[i] != KIND_MESSAGE_ACTION)
            for viewer in viewers:
                state = ViewerState()
                if eligible and rng.random() < 0.5:
                    state.unread = rng.randint(1, min(25, eligible))
                if rng.random() < cfg.tag_share:
                    state.tags = sorted(rng.sample(CONVERSATION_TAGS, rng.randint(1, 3)))
                dataset.viewers[(viewer, conv.index)] = state
