// A merchant's staff: hosted circles (create, edit), discovery, insights and area insights.
import { useState } from 'react';
import { gql, mutate } from './api.js';
import { HoursChart, InterestsChart } from './charts.jsx';
import { useI18n } from './i18n.js';
import { Tabs } from './tabs.jsx';
import { Loaded, Status, useDate, useQuery, useStatus } from './ui.jsx';

const TABS = ['circles', 'create', 'discovery', 'insights', 'area'];
const ERRORS = 'userErrors { code field message }';
const CIRCLE_FIELDS = 'id name description visibility joinPolicy minTrustScore customersOnly service memberCount viewerRole';

export function MerchantPage({ merchant, tab, base }) {
  const { t } = useI18n();
  const current = TABS.includes(tab) ? tab : 'circles';
  const Body = { circles: Hosted, create: Create, discovery: Discovery, insights: Insights, area: Area }[current];
  return (
    <div className="page">
      <h1>{merchant.name}</h1>
      <p className="meta">{merchant.category}</p>
      <Tabs base={base} tabs={TABS} current={current} />
      <section className="card" aria-labelledby="tab-h">
        <h2 id="tab-h">{t(`tab_${current}`)}</h2>
        <Body merchant={merchant} />
      </section>
    </div>
  );
}

const HOSTED = `query Hosted($id: ID!) {
  merchant(id: $id) { circles(first: 100) { edges { node { ${CIRCLE_FIELDS} } } } } }`;
const UPDATE = `mutation Update($id: ID!, $input: UpdateCircleInput!) {
  updateCircle(id: $id, input: $input) { circle { ${CIRCLE_FIELDS} } ${ERRORS} } }`;

function Hosted({ merchant }) {
  const { t } = useI18n();
  const [status, run] = useStatus();
  const [editing, setEditing] = useState(null);
  const state = useQuery(HOSTED, { id: merchant.id }, [merchant.id]);
  return (
    <>
      <Status status={status} />
      <Loaded state={state}>
        {(data) => {
          const rows = data.merchant?.circles.edges.map((e) => e.node) ?? [];
          if (!rows.length) return <p>{t('empty')}</p>;
          return (
            <ul className="items">
              {rows.map((c) => (
                <li key={c.id} className="item">
                  <h3>{c.name}</h3>
                  <p className="meta">
                    {t(`vis_${c.visibility}`)} · {t(`policy_${c.joinPolicy}`)} · {t('membersCount', { n: c.memberCount })}
                    {c.customersOnly && <> · {t('customersOnly')}</>}
                  </p>
                  <p>{c.description}</p>
                  {editing === c.id ? (
                    <CircleForm
                      initial={c}
                      submitLabel={t('save')}
                      onCancel={() => setEditing(null)}
                      onSubmit={async (input) => {
                        const done = await run(
                          () => mutate(UPDATE, { id: c.id, input }, 'updateCircle'),
                          (p) => t('saved', { name: p.circle.name }),
                        );
                        if (done) {
                          setEditing(null);
                          state.reload();
                        }
                      }}
                    />
                  ) : (
                    <button type="button" aria-label={`${t('edit')} ${c.name}`} onClick={() => setEditing(c.id)}>
                      {t('edit')}
                    </button>
                  )}
                </li>
              ))}
            </ul>
          );
        }}
      </Loaded>
    </>
  );
}

const BLANK = {
  name: '',
  description: '',
  visibility: 'PUBLIC',
  joinPolicy: 'OPEN',
  minTrustScore: 0,
  customersOnly: false,
  service: '',
};

function CircleForm({ initial, submitLabel, onSubmit, onCancel, creating }) {
  const { t } = useI18n();
  const [v, setV] = useState({ ...BLANK, ...initial, service: initial?.service ?? '' });
  const set = (field) => (e) =>
    setV({ ...v, [field]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  const submit = (e) => {
    e.preventDefault();
    const input = {
      name: v.name,
      description: v.description,
      visibility: v.visibility,
      joinPolicy: v.joinPolicy,
      minTrustScore: Number(v.minTrustScore) || 0,
      customersOnly: v.customersOnly,
    };
    if (creating && v.service) input.service = v.service;
    onSubmit(input);
  };
  return (
    <form className="form" onSubmit={submit}>
      <label>
        {t('name')}
        <input required value={v.name} onChange={set('name')} />
      </label>
      <label>
        {t('description')}
        <textarea rows={3} value={v.description} onChange={set('description')} />
      </label>
      <label>
        {t('visibility')}
        <select value={v.visibility} onChange={set('visibility')}>
          {['PUBLIC', 'SEMI_PUBLIC', 'PRIVATE'].map((x) => (
            <option key={x} value={x}>
              {t(`vis_${x}`)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('joinPolicy')}
        <select value={v.joinPolicy} onChange={set('joinPolicy')}>
          {['OPEN', 'APPROVAL', 'INVITE'].map((x) => (
            <option key={x} value={x}>
              {t(`policy_${x}`)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('minTrustScore')}
        <input type="number" min={0} max={1000} value={v.minTrustScore} onChange={set('minTrustScore')} />
      </label>
      <label className="check">
        <input type="checkbox" checked={v.customersOnly} onChange={set('customersOnly')} />
        {t('customersOnly')}
      </label>
      {creating && (
        <label>
          {t('service')}
          <input value={v.service} onChange={set('service')} />
        </label>
      )}
      <div className="actions">
        <button type="submit">{submitLabel}</button>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            {t('cancel')}
          </button>
        )}
      </div>
    </form>
  );
}

const CREATE = `mutation Create($input: CreateCircleInput!) {
  createCircle(input: $input) { circle { ${CIRCLE_FIELDS} } ${ERRORS} } }`;

function Create({ merchant }) {
  const { t } = useI18n();
  const [status, run] = useStatus();
  const [round, setRound] = useState(0);
  return (
    <>
      <Status status={status} />
      <CircleForm
        key={round}
        creating
        initial={{ service: merchant.category }}
        submitLabel={t('create')}
        onSubmit={async (input) => {
          const done = await run(
            () => mutate(CREATE, { input: { ...input, merchantId: merchant.id } }, 'createCircle'),
            (p) => t('created', { name: p.circle.name }),
          );
          if (done) setRound(round + 1);
        }}
      />
    </>
  );
}

const DISCOVER = `query Discover($q: String!) {
  discoverCircles(query: $q, first: 20) { edges { node { id name description visibility memberCount merchant { name } } } } }`;

function Discovery() {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const [status, run] = useStatus();
  const [rows, setRows] = useState(null);
  const search = async (e) => {
    e.preventDefault();
    const data = await run(
      () => gql(DISCOVER, { q }),
      (d) => t('found', { n: d.discoverCircles.edges.length }),
    );
    if (data) setRows(data.discoverCircles.edges.map((x) => x.node));
  };
  return (
    <>
      <form className="form inline" role="search" onSubmit={search}>
        <label>
          {t('searchLabel')}
          <input type="search" required value={q} onChange={(e) => setQ(e.target.value)} />
        </label>
        <button type="submit">{t('search')}</button>
      </form>
      <Status status={status} />
      {rows && (
        <ul className="items results">
          {rows.map((c) => (
            <li key={c.id} className="item">
              <h3>{c.name}</h3>
              <p className="meta">
                {c.merchant?.name} · {t(`vis_${c.visibility}`)} · {t('membersCount', { n: c.memberCount })}
              </p>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

const AGGREGATES = 'privacyThreshold computedAt audienceSize interests { key count } activeHours { key count }';
const INSIGHTS = `query Insights($id: ID!) {
  merchantInsights(merchantId: $id) { ${AGGREGATES} customersServed(days: 30) } }`;

function Numbers({ data }) {
  const { t } = useI18n();
  const date = useDate();
  const value = (n) => (n === null || n === undefined ? t('belowThreshold', { n: data.privacyThreshold }) : n);
  return (
    <>
      <p className="note">{t('privacyThreshold', { n: data.privacyThreshold })}</p>
      <p className="note">{t('computedAt', { when: date(data.computedAt) })}</p>
      <dl className="numbers">
        <div>
          <dt>{t('audienceSize')}</dt>
          <dd data-number="audienceSize">{value(data.audienceSize)}</dd>
        </div>
        {'customersServed' in data && (
          <div>
            <dt>{t('customersServed')}</dt>
            <dd data-number="customersServed">{value(data.customersServed)}</dd>
          </div>
        )}
      </dl>
      <div className="charts">
        <InterestsChart buckets={data.interests} threshold={data.privacyThreshold} />
        <HoursChart buckets={data.activeHours} threshold={data.privacyThreshold} />
      </div>
    </>
  );
}

function Insights({ merchant }) {
  const state = useQuery(INSIGHTS, { id: merchant.id }, [merchant.id]);
  const { t } = useI18n();
  return (
    <Loaded state={state}>
      {(data) => (data.merchantInsights ? <Numbers data={data.merchantInsights} /> : <p>{t('empty')}</p>)}
    </Loaded>
  );
}

const AREA = `query Area($id: ID!, $near: GeoPointInput!, $radius: Int!) {
  areaInsights(merchantId: $id, near: $near, radiusMeters: $radius) { ${AGGREGATES} } }`;
const LOCATION = `query Where($id: ID!) { merchant(id: $id) { location { latitude longitude } } }`;

function Area({ merchant }) {
  const state = useQuery(LOCATION, { id: merchant.id }, [merchant.id]);
  return (
    <Loaded state={state}>
      {(data) => <AreaForm merchant={merchant} at={data.merchant?.location} />}
    </Loaded>
  );
}

function AreaForm({ merchant, at }) {
  const { t } = useI18n();
  const [lat, setLat] = useState(at ? String(at.latitude) : '');
  const [lon, setLon] = useState(at ? String(at.longitude) : '');
  const [radius, setRadius] = useState('1000');
  const [status, run] = useStatus();
  const [result, setResult] = useState(null);
  const ask = async (e) => {
    e.preventDefault();
    const data = await run(
      () =>
        gql(AREA, {
          id: merchant.id,
          near: { latitude: Number(lat), longitude: Number(lon) },
          radius: Number(radius),
        }),
      () => t('areaShown', { radius, lat, lon }),
    );
    if (data) setResult(data.areaInsights);
  };
  return (
    <>
      <p className="note">{t('areaBudget')}</p>
      <form className="form inline" onSubmit={ask}>
        <label>
          {t('latitude')}
          <input type="number" step="any" min={-90} max={90} required value={lat} onChange={(e) => setLat(e.target.value)} />
        </label>
        <label>
          {t('longitude')}
          <input type="number" step="any" min={-180} max={180} required value={lon} onChange={(e) => setLon(e.target.value)} />
        </label>
        <label>
          {t('radius')}
          <input type="number" required value={radius} onChange={(e) => setRadius(e.target.value)} />
        </label>
        <button type="submit">{t('askArea')}</button>
      </form>
      <Status status={status} />
      {result && <Numbers data={result} />}
    </>
  );
}
