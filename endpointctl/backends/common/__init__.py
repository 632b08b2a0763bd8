"""What more than one backend uses: environment recipes, the gateway's metrics reader, the scoring client."""
