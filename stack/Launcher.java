/*
 * Runs the real Neo4j 5.26 community engine embedded, with its Bolt connector on loopback,
 * for `quanzi stack up`. Started with the Java 17 source launcher (no build step):
 *
 *   java -Xmx1g -Xms1g <add-opens...> -cp 'LIB/*' stack/Launcher.java \
 *        --home DIR --port 7687 [--host 127.0.0.1] [--pagecache 512m]
 *
 * Prints a line starting with READY_MARKER once Bolt is listening, then blocks until SIGTERM,
 * when a shutdown hook stops the database cleanly (so the store needs no recovery next start).
 */

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.SettingValueParsers;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.logging.Level;
import org.neo4j.logging.log4j.Log4jLogProvider;

public final class Launcher {
    static final String READY_MARKER = "QUANZI-NEO4J-READY";

    private Launcher() {}

    private static String arg(String[] args, String name, String fallback) {
        for (int i = 0; i < args.length - 1; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        if (fallback == null) {
            System.err.println("missing required argument " + name);
            System.exit(2);
        }
        return fallback;
    }

    public static void main(String[] args) throws Exception {
        Path home = Path.of(arg(args, "--home", null)).toAbsolutePath();
        int port = Integer.parseInt(arg(args, "--port", "7687"));
        String host = arg(args, "--host", "127.0.0.1");
        long pageCache = SettingValueParsers.BYTES.parse(arg(args, "--pagecache", "512m"));
        Files.createDirectories(home);

        SocketAddress bolt = new SocketAddress(host, port);
        Log4jLogProvider userLog = new Log4jLogProvider(System.out, Level.INFO);
        long t0 = System.nanoTime();
        DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
                .setUserLogProvider(userLog)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, bolt)
                // Same address advertised, so neo4j:// routing tables point back at this server.
                .setConfig(BoltConnector.advertised_address, bolt)
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                // No keep-alive NOOPs promised, so no receive-timeout hint: with one, the Python
                // driver wraps every socket read in a timed task (1.8x the cost per record).
                .setConfig(BoltConnector.connection_keep_alive_type, BoltConnector.KeepAliveRequestType.OFF)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, pageCache)
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                // A dev stack: don't reserve 256 MiB of transaction log per database up front.
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("quanzi: shutting down neo4j");
            try {
                service.shutdown();
            } catch (RuntimeException e) {
                e.printStackTrace();
            } finally {
                userLog.close();
                System.out.println("quanzi: neo4j stopped");
                System.out.flush();
                stopped.countDown();
            }
        }, "quanzi-neo4j-shutdown"));

        // Opening the default database makes sure the store is usable before we claim readiness.
        GraphDatabaseService db = service.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        db.executeTransactionally("RETURN 1");
        System.out.printf("%s bolt://%s:%d home=%s started_in_ms=%d%n",
                READY_MARKER, host, port, home, (System.nanoTime() - t0) / 1_000_000);
        System.out.flush();
        stopped.await();
    }
}
