// Small shared pieces: the status line every action reports to, links, dates, loading.
import { useCallback, useEffect, useState } from 'react';
import { gql } from './api.js';
import { useI18n } from './i18n.js';

export function navigate(path) {
  history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function Link({ to, children, ...rest }) {
  return (
    <a
      href={to}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
        e.preventDefault();
        navigate(to);
      }}
      {...rest}
    >
      {children}
    </a>
  );
}

export function useDate() {
  const { lang } = useI18n();
  return (iso) =>
    iso
      ? new Date(iso).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', {
          dateStyle: 'medium',
          timeStyle: 'short',
        })
      : '';
}

export function errorText(t, exc) {
  const code = exc?.code;
  const label = code ? t(`errorCode_${code}`) : '';
  const known = label && label !== `errorCode_${code}`;
  return t('error', { text: `${known ? `${label} (${code})` : code || ''}: ${exc?.message || exc}` });
}

// What the last action did, in words: role=status for results, role=alert for failures.
export function useStatus() {
  const { t } = useI18n();
  const [status, setStatus] = useState(null);
  const run = useCallback(
    async (work, success) => {
      setStatus({ busy: true });
      try {
        const result = await work();
        setStatus({ ok: true, text: typeof success === 'function' ? success(result) : success });
        return result === undefined ? true : result; // undefined only when it failed
      } catch (exc) {
        setStatus({ ok: false, text: errorText(t, exc) });
        return undefined;
      }
    },
    [t],
  );
  return [status, run];
}

export function Status({ status }) {
  if (!status || status.busy) return <p className="status" role="status" aria-live="polite" />;
  return status.ok ? (
    <p className="status ok" role="status" aria-live="polite">
      {status.text}
    </p>
  ) : (
    <p className="status fail" role="alert">
      {status.text}
    </p>
  );
}

// A query's data, reloaded whenever `deps` change or reload() is called.
export function useQuery(query, variables, deps) {
  const [state, setState] = useState({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    gql(query, variables).then(
      (data) => live && setState({ data }),
      (error) => live && setState({ error }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((n) => n + 1) };
}

export function Loaded({ state, children }) {
  const { t } = useI18n();
  if (state.error) return <p role="alert" className="status fail">{errorText(t, state.error)}</p>;
  if (!state.data) return <p aria-busy="true">{t('loading')}</p>;
  return children(state.data);
}
