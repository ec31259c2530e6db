// A moderator's circle: the queue, join requests, members, appeals, mod log, automod rules.
import { useState } from 'react';
import { mutate } from './api.js';
import { useI18n } from './i18n.js';
import { Tabs } from './tabs.jsx';
import { Loaded, Status, useDate, useQuery, useStatus } from './ui.jsx';

const TABS = ['queue', 'requests', 'members', 'appeals', 'log', 'automod'];
const ERRORS = 'userErrors { code field message }';

const MODERATE = `mutation Moderate($input: ModerateInput!) {
  moderate(input: $input) { action { id kind } ${ERRORS} } }`;
const RESOLVE = `mutation Resolve($id: ID!, $dismiss: Boolean!) {
  resolveReport(reportId: $id, dismiss: $dismiss) { report { id state } ${ERRORS} } }`;

const moderate = (input) => mutate(MODERATE, { input }, 'moderate');
const resolveReport = (id, dismiss) => mutate(RESOLVE, { id, dismiss }, 'resolveReport');

export function CirclePage({ circle, tab, base }) {
  const { t } = useI18n();
  const current = TABS.includes(tab) ? tab : 'queue';
  const Body = { queue: Queue, requests: Requests, members: Members, appeals: Appeals, log: ModLog, automod: Automod }[current];
  return (
    <div className="page">
      <h1>{circle.name}</h1>
      <p className="meta">
        {t(`role_${circle.viewerRole}`)} · {t(`vis_${circle.visibility}`)} · {t(`policy_${circle.joinPolicy}`)}
      </p>
      <Tabs base={base} tabs={TABS} current={current} />
      <section className="card" aria-labelledby="tab-h">
        <h2 id="tab-h">{t(`tab_${current}`)}</h2>
        <Body circle={circle} />
      </section>
    </div>
  );
}

const QUEUE = `query Queue($id: ID!) {
  moderationQueue(circleId: $id, first: 100) {
    edges { node { id reason state createdAt
      reporter { handle } subject { id handle displayName }
      post { id body removed author { handle displayName } } } }
  } }`;

function Queue({ circle }) {
  const { t } = useI18n();
  const date = useDate();
  const [status, run] = useStatus();
  const state = useQuery(QUEUE, { id: circle.id }, [circle.id]);
  const act = async (work, text) => {
    if ((await run(work, text)) !== undefined) state.reload();
  };
  return (
    <>
      <Status status={status} />
      <Loaded state={state}>
        {(data) => {
          const reports = data.moderationQueue?.edges.map((e) => e.node) ?? [];
          if (!reports.length) return <p>{t('empty')}</p>;
          return (
            <ul className="items">
              {reports.map((r) => {
                const what = r.post ? (r.reporter ? t('reportedPost') : t('heldPost')) : t('reportedMember');
                return (
                  <li key={r.id} className="item" aria-label={what}>
                    <h3>{what}</h3>
                    <p className="meta">
                      {date(r.createdAt)}
                      {r.reporter && <> · {t('reportedBy', { who: `@${r.reporter.handle}` })}</>}
                    </p>
                    <p>
                      <strong>{t('reason')}:</strong> {r.reason}
                    </p>
                    {r.post && (
                      <blockquote>
                        {r.post.body}
                        <footer className="meta">
                          {t('by', { who: `@${r.post.author.handle}` })}
                          {r.post.removed && <> · {t('postRemovedNote')}</>}
                        </footer>
                      </blockquote>
                    )}
                    {r.subject && !r.post && <p>@{r.subject.handle} · {r.subject.displayName}</p>}
                    <div className="actions">
                      {r.post && !r.post.removed && (
                        <button
                          type="button"
                          onClick={() =>
                            act(async () => {
                              await moderate({ circleId: circle.id, kind: 'REMOVE_POST', postId: r.post.id, reason: r.reason });
                              await resolveReport(r.id, false);
                            }, t('removed'))
                          }
                        >
                          {t('removePost')}
                        </button>
                      )}
                      {r.post?.removed && (
                        <button
                          type="button"
                          onClick={() =>
                            act(async () => {
                              await moderate({ circleId: circle.id, kind: 'RESTORE_POST', postId: r.post.id });
                              await resolveReport(r.id, true);
                            }, t('restored'))
                          }
                        >
                          {t('restorePost')}
                        </button>
                      )}
                      {!r.post && (
                        <button type="button" onClick={() => act(() => resolveReport(r.id, false), t('resolved'))}>
                          {t('resolve')}
                        </button>
                      )}
                      <button type="button" onClick={() => act(() => resolveReport(r.id, true), t('dismissed'))}>
                        {t('dismiss')}
                      </button>
                    </div>
                  </li>
                );
              })}
            </ul>
          );
        }}
      </Loaded>
    </>
  );
}

const REQUESTS = `query Requests($id: ID!) {
  circle(id: $id) { joinRequests(first: 100) {
    edges { node { since user { id handle displayName } } } } } }`;
const REVIEW = `mutation Review($circleId: ID!, $userId: ID!, $approve: Boolean!) {
  reviewJoinRequest(circleId: $circleId, userId: $userId, approve: $approve) {
    membership { state } ${ERRORS} } }`;

function Requests({ circle }) {
  const { t } = useI18n();
  const date = useDate();
  const [status, run] = useStatus();
  const state = useQuery(REQUESTS, { id: circle.id }, [circle.id]);
  const review = async (user, approve) => {
    const who = `@${user.handle}`;
    const done = await run(
      () => mutate(REVIEW, { circleId: circle.id, userId: user.id, approve }, 'reviewJoinRequest'),
      approve ? t('approved', { who }) : t('denied', { who }),
    );
    if (done !== undefined) state.reload();
  };
  return (
    <>
      <Status status={status} />
      <Loaded state={state}>
        {(data) => {
          const rows = data.circle?.joinRequests?.edges.map((e) => e.node) ?? [];
          if (!rows.length) return <p>{t('empty')}</p>;
          return (
            <ul className="items">
              {rows.map((m) => (
                <li key={m.user.id} className="item">
                  <span>
                    {m.user.displayName} <span className="meta">@{m.user.handle} · {t('requestedAt', { when: date(m.since) })}</span>
                  </span>
                  <div className="actions">
                    <button type="button" aria-label={t('actionOn', { action: t('approve'), who: `@${m.user.handle}` })} onClick={() => review(m.user, true)}>
                      {t('approve')}
                    </button>
                    <button type="button" aria-label={t('actionOn', { action: t('deny'), who: `@${m.user.handle}` })} onClick={() => review(m.user, false)}>
                      {t('deny')}
                    </button>
                  </div>
                </li>
              ))}
            </ul>
          );
        }}
      </Loaded>
    </>
  );
}

const MEMBERS = `query Members($id: ID!, $after: String) {
  circle(id: $id) { members(first: 50, after: $after) {
    edges { node { role state since user { id handle displayName } } }
    pageInfo { hasNextPage endCursor } } } }`;
const DURATIONS = ['3600', '86400', '604800', '2592000', 'permanent'];

function Members({ circle }) {
  const { t } = useI18n();
  const [status, run] = useStatus();
  const [after, setAfter] = useState(null);
  const state = useQuery(MEMBERS, { id: circle.id, after }, [circle.id, after]);
  return (
    <>
      <Status status={status} />
      <Loaded state={state}>
        {(data) => {
          const page = data.circle?.members;
          const rows = page?.edges.map((e) => e.node) ?? [];
          if (!rows.length) return <p>{t('empty')}</p>;
          return (
            <>
              <ul className="items">
                {rows.map((m) => (
                  <MemberRow key={m.user.id} circle={circle} member={m} run={run} reload={state.reload} />
                ))}
              </ul>
              {page.pageInfo.hasNextPage && (
                <button type="button" onClick={() => setAfter(page.pageInfo.endCursor)}>
                  {t('loadMore')}
                </button>
              )}
            </>
          );
        }}
      </Loaded>
    </>
  );
}

function MemberRow({ circle, member, run, reload }) {
  const { t } = useI18n();
  const [duration, setDuration] = useState('86400');
  const [role, setRole] = useState(member.role || 'MEMBER');
  const [reason, setReason] = useState('');
  const who = `@${member.user.handle}`;
  const id = `m-${member.user.id}`;
  const act = async (kind) => {
    const input = { circleId: circle.id, kind, userId: member.user.id, reason: reason || null };
    if ((kind === 'BAN' || kind === 'MUTE') && duration !== 'permanent') input.durationSeconds = Number(duration);
    if (kind === 'SET_ROLE') input.role = role;
    const done = await run(() => moderate(input), t(`done_${kind}`, { who, role: t(`role_${role}`) }));
    if (done !== undefined) reload();
  };
  const button = (kind, label) => (
    <button type="button" aria-label={t('actionOn', { action: label, who })} onClick={() => act(kind)}>
      {label}
    </button>
  );
  return (
    <li className="item member">
      <span>
        {member.user.displayName} <span className="meta">{who} · {t(`role_${member.role}`)}</span>
      </span>
      {member.role !== 'OWNER' && (
        <div className="actions">
          <label htmlFor={`${id}-reason`}>{t('reason')}</label>
          <input id={`${id}-reason`} value={reason} onChange={(e) => setReason(e.target.value)} />
          <label htmlFor={`${id}-dur`}>{t('duration')}</label>
          <select id={`${id}-dur`} value={duration} onChange={(e) => setDuration(e.target.value)}>
            {DURATIONS.map((d) => (
              <option key={d} value={d}>
                {t(`dur_${d}`)}
              </option>
            ))}
          </select>
          {button('MUTE', t('mute'))}
          {button('UNMUTE', t('unmute'))}
          {button('BAN', t('ban'))}
          {button('KICK', t('kick'))}
          <label htmlFor={`${id}-role`}>{t('roleLabel')}</label>
          <select id={`${id}-role`} value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="MEMBER">{t('role_MEMBER')}</option>
            <option value="MODERATOR">{t('role_MODERATOR')}</option>
          </select>
          {button('SET_ROLE', t('setRole'))}
        </div>
      )}
    </li>
  );
}

const APPEALS = `query Appeals($id: ID!) {
  appeals(circleId: $id, first: 100) {
    edges { node { id actionKind message state createdAt user { handle displayName } } } } }`;
const DECIDE = `mutation Decide($id: ID!, $accept: Boolean!) {
  decideAppeal(appealId: $id, accept: $accept) { appeal { id state } ${ERRORS} } }`;

function Appeals({ circle }) {
  const { t } = useI18n();
  const date = useDate();
  const [status, run] = useStatus();
  const state = useQuery(APPEALS, { id: circle.id }, [circle.id]);
  const decide = async (a, accept) => {
    const kind = t(`kind_${a.actionKind}`);
    const done = await run(
      () => mutate(DECIDE, { id: a.id, accept }, 'decideAppeal'),
      accept ? t('appealAccepted', { kind }) : t('appealRejected'),
    );
    if (done !== undefined) state.reload();
  };
  return (
    <>
      <Status status={status} />
      <Loaded state={state}>
        {(data) => {
          const rows = data.appeals?.edges.map((e) => e.node) ?? [];
          if (!rows.length) return <p>{t('empty')}</p>;
          return (
            <ul className="items">
              {rows.map((a) => (
                <li key={a.id} className="item">
                  <h3>{t('appealOf', { kind: t(`kind_${a.actionKind}`), who: `@${a.user?.handle ?? '?'}` })}</h3>
                  <p className="meta">{date(a.createdAt)}</p>
                  <blockquote>{a.message}</blockquote>
                  <div className="actions">
                    <button type="button" onClick={() => decide(a, true)}>{t('accept')}</button>
                    <button type="button" onClick={() => decide(a, false)}>{t('reject')}</button>
                  </div>
                </li>
              ))}
            </ul>
          );
        }}
      </Loaded>
    </>
  );
}

const LOG = `query Log($id: ID!, $after: String) {
  modLog(circleId: $id, first: 50, after: $after) {
    edges { node { id kind reason createdAt expiresAt
      moderator { handle } targetUser { handle } targetPost { id body } } }
    pageInfo { hasNextPage endCursor } } }`;

function ModLog({ circle }) {
  const { t } = useI18n();
  const date = useDate();
  const [after, setAfter] = useState(null);
  const state = useQuery(LOG, { id: circle.id, after }, [circle.id, after]);
  return (
    <Loaded state={state}>
      {(data) => {
        const page = data.modLog;
        const rows = page?.edges.map((e) => e.node) ?? [];
        if (!rows.length) return <p>{t('empty')}</p>;
        return (
          <>
            <ol className="items log">
              {rows.map((a) => (
                <li key={a.id} className="item">
                  {t('logLine', { when: date(a.createdAt), who: `@${a.moderator.handle}`, kind: t(`kind_${a.kind}`) })}
                  {a.targetUser && <> · {t('target', { who: `@${a.targetUser.handle}` })}</>}
                  {a.expiresAt && <> · {t('until', { when: date(a.expiresAt) })}</>}
                  {a.reason && <> · {t('reason')}: {a.reason}</>}
                  {a.targetPost && <blockquote>{a.targetPost.body}</blockquote>}
                </li>
              ))}
            </ol>
            {page.pageInfo.hasNextPage && (
              <button type="button" onClick={() => setAfter(page.pageInfo.endCursor)}>
                {t('loadMore')}
              </button>
            )}
          </>
        );
      }}
    </Loaded>
  );
}

const RULES = `query Rules($id: ID!) { automodRules(circleId: $id) { label pattern action } }`;
const SET_RULES = `mutation SetRules($id: ID!, $rules: [AutomodRuleInput!]!) {
  setAutomodRules(circleId: $id, rules: $rules) { rules { label pattern action } ${ERRORS} } }`;

function Automod({ circle }) {
  const state = useQuery(RULES, { id: circle.id }, [circle.id]);
  return (
    <Loaded state={state}>
      {(data) => <RulesEditor circle={circle} initial={data.automodRules ?? []} />}
    </Loaded>
  );
}

function RulesEditor({ circle, initial }) {
  const { t } = useI18n();
  const [rules, setRules] = useState(initial);
  const [status, run] = useStatus();
  const change = (i, field, value) => setRules(rules.map((r, j) => (j === i ? { ...r, [field]: value } : r)));
  const save = async (e) => {
    e.preventDefault();
    const rulesIn = rules.map(({ label, pattern, action }) => ({ label, pattern, action }));
    const payload = await run(
      () => mutate(SET_RULES, { id: circle.id, rules: rulesIn }, 'setAutomodRules'),
      (p) => t('rulesSaved', { n: p.rules.length }),
    );
    if (payload) setRules(payload.rules);
  };
  return (
    <form onSubmit={save}>
      <Status status={status} />
      <table className="rules">
        <thead>
          <tr>
            <th scope="col">{t('ruleLabel')}</th>
            <th scope="col">{t('rulePattern')}</th>
            <th scope="col">{t('ruleAction')}</th>
            <th scope="col" />
          </tr>
        </thead>
        <tbody>
          {rules.map((r, i) => (
            <tr key={i}>
              <td>
                <input aria-label={`${t('ruleLabel')} ${i + 1}`} value={r.label} onChange={(e) => change(i, 'label', e.target.value)} />
              </td>
              <td>
                <input aria-label={`${t('rulePattern')} ${i + 1}`} value={r.pattern} onChange={(e) => change(i, 'pattern', e.target.value)} />
              </td>
              <td>
                <select aria-label={`${t('ruleAction')} ${i + 1}`} value={r.action} onChange={(e) => change(i, 'action', e.target.value)}>
                  <option value="HOLD">{t('action_HOLD')}</option>
                  <option value="REFUSE">{t('action_REFUSE')}</option>
                </select>
              </td>
              <td>
                <button type="button" aria-label={t('removeRule', { n: i + 1 })} onClick={() => setRules(rules.filter((_, j) => j !== i))}>
                  ×
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="actions">
        <button type="button" onClick={() => setRules([...rules, { label: '', pattern: '', action: 'HOLD' }])}>
          {t('addRule')}
        </button>
        <button type="submit">{t('saveRules')}</button>
      </div>
    </form>
  );
}

