// Prints, one a line, every property name the broker's own configuration definition
// knows (kafka.server.KafkaConfig): devstack checks the server.properties it writes
// against it, so a misspelt property fails a test instead of being silently ignored.
// Run as a single source file: java -cp '<kafka libs>/*' KnownConfigs.java
public class KnownConfigs {
    public static void main(String[] args) {
        for (String name : new java.util.TreeSet<>(kafka.server.KafkaConfig.configDef().names())) {
            System.out.println(name);
        }
    }
}
