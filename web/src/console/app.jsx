// The shell: sign-in, language switch, the home lists, and routing under /console/.
import { useEffect, useMemo, useState } from 'react';
import { gql } from './api.js';
import { I18n, initialLanguage, rememberLanguage, translator, useI18n } from './i18n.js';
import { MerchantPage } from './merchants.jsx';
import { CirclePage } from './moderation.jsx';
import { setToken, storedToken } from './token.js';
import { errorText, Link, navigate } from './ui.jsx';

const BASE = '/console/';
const HOME = `
  query ConsoleHome($after: String) {
    me { id handle displayName }
    myCircles(first: 100, after: $after) {
      edges { node { id name viewerRole memberCount visibility joinPolicy } }
      pageInfo { hasNextPage endCursor }
    }
    myMerchants(first: 100) { edges { node { id name category } } }
  }`;

async function loadHome() {
  const first = await gql(HOME);
  const circles = first.myCircles.edges.map((e) => e.node);
  let page = first.myCircles.pageInfo;
  while (page.hasNextPage) {
    const next = await gql(HOME, { after: page.endCursor });
    circles.push(...next.myCircles.edges.map((e) => e.node));
    page = next.myCircles.pageInfo;
  }
  return {
    me: first.me,
    circles: circles.filter((c) => c.viewerRole === 'OWNER' || c.viewerRole === 'MODERATOR'),
    merchants: first.myMerchants.edges.map((e) => e.node),
  };
}

function usePath() {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const changed = () => setPath(window.location.pathname);
    window.addEventListener('popstate', changed);
    return () => window.removeEventListener('popstate', changed);
  }, []);
  return path.startsWith(BASE) ? path.slice(BASE.length) : '';
}

export function App() {
  const [lang, setLang] = useState(initialLanguage);
  const i18n = useMemo(() => ({ lang, t: translator(lang) }), [lang]);
  const [token, setTokenState] = useState(storedToken);
  const [home, setHome] = useState(null);
  const path = usePath();

  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = i18n.t('title');
  }, [lang, i18n]);

  useEffect(() => {
    if (!token) return;
    setHome(null);
    loadHome().then(
      (data) => setHome({ data }),
      (error) => setHome({ error }),
    );
  }, [token]);

  const signIn = (value) => {
    setToken(value);
    setTokenState(value);
  };
  const signOut = () => {
    setToken(null);
    setTokenState(null);
    setHome(null);
    navigate(BASE);
  };

  return (
    <I18n.Provider value={i18n}>
      <a className="skip" href="#main">
        {i18n.t('skipToMain')}
      </a>
      <header className="top">
        <Link to={BASE} className="brand">
          {i18n.t('title')}
        </Link>
        <label className="lang">
          {i18n.t('language')}{' '}
          <select
            value={lang}
            onChange={(e) => {
              rememberLanguage(e.target.value);
              setLang(e.target.value);
            }}
          >
            <option value="zh">中文</option>
            <option value="en">English</option>
          </select>
        </label>
        {home?.data?.me && (
          <span className="who">{i18n.t('signedInAs', { who: `${home.data.me.displayName} (@${home.data.me.handle})` })}</span>
        )}
        {token && (
          <button type="button" onClick={signOut}>
            {i18n.t('signOut')}
          </button>
        )}
        <a href="/graphql">{i18n.t('openIde')}</a>
      </header>
      <main id="main" tabIndex={-1}>
        {!token ? (
          <SignIn onToken={signIn} />
        ) : !home ? (
          <p aria-busy="true">{i18n.t('loading')}</p>
        ) : home.error ? (
          <p role="alert" className="status fail">
            {errorText(i18n.t, home.error)}
          </p>
        ) : (
          <Routed path={path} home={home.data} />
        )}
      </main>
    </I18n.Provider>
  );
}

function SignIn({ onToken }) {
  const { t } = useI18n();
  const [value, setValue] = useState('');
  return (
    <form
      className="card signin"
      onSubmit={(e) => {
        e.preventDefault();
        if (value.trim()) onToken(value.trim());
      }}
    >
      <h1>{t('signInTitle')}</h1>
      <p>{t('signInHelp')}</p>
      <label htmlFor="token">{t('tokenLabel')}</label>
      <textarea id="token" rows={4} value={value} onChange={(e) => setValue(e.target.value)} />
      <button type="submit">{t('signIn')}</button>
    </form>
  );
}

function Routed({ path, home }) {
  const { t } = useI18n();
  if (!home.me) return <p role="alert" className="status fail">{t('notSignedIn')}</p>;
  const [kind, id, tab] = path.split('/');
  if (kind === 'circles' && id) {
    const circle = home.circles.find((c) => c.id === decodeURIComponent(id));
    if (circle) return <CirclePage circle={circle} tab={tab || 'queue'} base={`${BASE}circles/${id}/`} />;
  }
  if (kind === 'merchants' && id) {
    const merchant = home.merchants.find((m) => m.id === decodeURIComponent(id));
    if (merchant)
      return <MerchantPage merchant={merchant} tab={tab || 'circles'} base={`${BASE}merchants/${id}/`} />;
  }
  return <Home home={home} />;
}

function Home({ home }) {
  const { t } = useI18n();
  if (!home.circles.length && !home.merchants.length)
    return <p className="card empty-console">{t('nothingHere')}</p>;
  return (
    <div className="home">
      {home.circles.length > 0 && (
        <section className="card" aria-labelledby="mod-h">
          <h1 id="mod-h">{t('moderatedCircles')}</h1>
          <ul className="list">
            {home.circles.map((c) => (
              <li key={c.id}>
                <Link to={`${BASE}circles/${encodeURIComponent(c.id)}/queue`}>{c.name}</Link>{' '}
                <span className="meta">
                  {t(`role_${c.viewerRole}`)} · {t(`vis_${c.visibility}`)} · {t(`policy_${c.joinPolicy}`)} ·{' '}
                  {t('membersCount', { n: c.memberCount })}
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}
      {home.merchants.length > 0 && (
        <section className="card" aria-labelledby="mer-h">
          <h1 id="mer-h">{t('myMerchants')}</h1>
          <ul className="list">
            {home.merchants.map((m) => (
              <li key={m.id}>
                <Link to={`${BASE}merchants/${encodeURIComponent(m.id)}/circles`}>{m.name}</Link>{' '}
                <span className="meta">{m.category}</span>
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}
